// libcups 2.4, loaded on first use (Debian: libcups2 at run time, libcups2-dev for these headers).
//
// kioskd does not link libcups: a kiosk without an A4 printer in CUPS mode never maps it nor the
// libraries it pulls in (GnuTLS, Kerberos, Avahi, D-Bus, p11-kit, …; about 3.7 MB resident).
// The types and constants come from the real headers below. The functions kioskd calls are
// defined in cups_loader.c under their libcups names: each opens libcups.so.2 on first use and
// calls the library's own function. Call kiosk_cups_load() first and use libcups only when it
// returns 1; without the library every such function returns a failure value (NULL, 0, an error
// status) instead of crashing.
#ifndef KIOSK_CCUPS_H
#define KIOSK_CCUPS_H

#include <cups/cups.h>
#include <cups/http.h>
#include <cups/ipp.h>
#include <stddef.h>

/// Opens libcups.so.2 and resolves every function kioskd uses, once per process (thread-safe;
/// later calls return the first answer). Returns 1 when libcups is usable, 0 when not.
int kiosk_cups_load(void);

/// Why kiosk_cups_load() failed (dlerror()'s text, or the function the library lacks); NULL
/// when libcups is loaded or no load was tried yet.
const char *kiosk_cups_load_error(void);

/// Whether `soname` could serve as libcups: opens it, resolves every function kioskd uses, and
/// closes it again. Changes nothing about the loaded library. Returns 1 if so; otherwise 0 with
/// the reason in `error` (at most `size` bytes, NUL-terminated).
int kiosk_cups_probe(const char *soname, char *error, size_t size);

#endif
