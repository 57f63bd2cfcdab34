// libcups 2.4 (Debian: libcups2-dev). Debian ships no cups.pc, so the module map links "cups" directly.
#ifndef KIOSK_CCUPS_SHIM_H
#define KIOSK_CCUPS_SHIM_H
#include <cups/cups.h>
#include <cups/ipp.h>
#include <cups/http.h>
#endif
