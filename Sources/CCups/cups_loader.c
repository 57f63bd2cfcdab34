// libcups.so.2 opened with dlopen on first use; see include/CCups.h.
#include "CCups.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define KIOSK_CUPS_SONAME "libcups.so.2"

// Every libcups function kioskd calls (Sources/KioskDevices/A4/A4Printer.swift). A function added
// there must be added here too, with its definition below.
#define KIOSK_CUPS_FUNCTIONS(X)                                                                     \
    X(cupsAddOption) X(cupsCancelDestJob) X(cupsCopyDestInfo) X(cupsCreateDestJob) X(cupsDoRequest) \
    X(cupsFinishDestDocument) X(cupsFreeDestInfo) X(cupsFreeDests) X(cupsFreeOptions)              \
    X(cupsGetDestWithURI) X(cupsGetNamedDest) X(cupsGetOption) X(cupsLastError)                    \
    X(cupsLastErrorString) X(cupsServer) X(cupsSetServer) X(cupsStartDestDocument)                 \
    X(cupsWriteRequestData) X(httpClose) X(httpConnect2) X(httpSeparateURI) X(httpSetTimeout)      \
    X(ippAddInteger) X(ippAddString) X(ippAddStrings) X(ippDelete) X(ippFindAttribute)             \
    X(ippGetBoolean) X(ippGetCount) X(ippGetInteger) X(ippGetResolution) X(ippGetString)           \
    X(ippNewRequest) X(ippPort)

// The library's own functions, typed as the headers declare them.
struct kiosk_cups_functions {
#define KIOSK_CUPS_POINTER(name) __typeof__(name) *name;
    KIOSK_CUPS_FUNCTIONS(KIOSK_CUPS_POINTER)
#undef KIOSK_CUPS_POINTER
};

// Opens `soname` (RTLD_NOW: every relocation now, none at a later call; RTLD_LOCAL: its symbols
// stay out of the global scope) and resolves every function. On success returns the handle; on
// failure closes what it opened, writes why to `error` and returns NULL.
static void *kiosk_cups_open(const char *soname, struct kiosk_cups_functions *f, char *error, size_t size) {
    dlerror();
    void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        snprintf(error, size, "%s", why != NULL ? why : soname);
        return NULL;
    }
#define KIOSK_CUPS_RESOLVE(name)                                                                \
    {                                                                                           \
        dlerror();                                                                              \
        void *symbol = dlsym(handle, #name);                                                    \
        if (symbol == NULL) {                                                                   \
            const char *why = dlerror();                                                        \
            snprintf(error, size, "%s has no function %s (%s)", soname, #name,                  \
                     why != NULL ? why : "symbol is NULL");                                     \
            dlclose(handle);                                                                    \
            return NULL;                                                                        \
        }                                                                                       \
        memcpy(&f->name, &symbol, sizeof symbol);                                               \
    }
    KIOSK_CUPS_FUNCTIONS(KIOSK_CUPS_RESOLVE)
#undef KIOSK_CUPS_RESOLVE
    return handle;
}

// Written once, inside pthread_once; read only after pthread_once has returned.
static pthread_once_t kiosk_cups_once = PTHREAD_ONCE_INIT;
static struct kiosk_cups_functions kiosk_cups;
static int kiosk_cups_loaded;
static char kiosk_cups_error[512];

static void kiosk_cups_load_once(void) {
    struct kiosk_cups_functions f;
    // The handle is kept for the life of the process: libcups keeps per-thread state and
    // connections that must never outlive its code.
    if (kiosk_cups_open(KIOSK_CUPS_SONAME, &f, kiosk_cups_error, sizeof kiosk_cups_error) != NULL) {
        kiosk_cups = f;
        kiosk_cups_loaded = 1;
        kiosk_cups_error[0] = '\0';
    }
}

int kiosk_cups_load(void) {
    pthread_once(&kiosk_cups_once, kiosk_cups_load_once);
    return kiosk_cups_loaded;
}

const char *kiosk_cups_load_error(void) { return kiosk_cups_load() ? NULL : kiosk_cups_error; }

int kiosk_cups_probe(const char *soname, char *error, size_t size) {
    struct kiosk_cups_functions f;
    char scratch[512];
    if (error == NULL || size == 0) {
        error = scratch;
        size = sizeof scratch;
    }
    void *handle = kiosk_cups_open(soname, &f, error, size);
    if (handle == NULL) return 0;
    dlclose(handle);
    error[0] = '\0';
    return 1;
}

// The functions under their libcups names. Each loads libcups if that was not done yet and calls
// the library's function; without the library it returns `failure` (what libcups itself returns
// for an error) so that a call made before a successful kiosk_cups_load() never jumps to NULL.
#define KIOSK_CUPS_CALL(type, name, params, args, failure) \
    type name params {                                     \
        if (!kiosk_cups_load()) return failure;            \
        return kiosk_cups.name args;                       \
    }
#define KIOSK_CUPS_CALL_VOID(name, params, args) \
    void name params {                           \
        if (kiosk_cups_load()) kiosk_cups.name args; \
    }

// cups.h
KIOSK_CUPS_CALL(int, cupsAddOption, (const char *name, const char *value, int num_options, cups_option_t **options),
                (name, value, num_options, options), num_options)
KIOSK_CUPS_CALL(ipp_status_t, cupsCancelDestJob, (http_t *http, cups_dest_t *dest, int job_id), (http, dest, job_id),
                IPP_STATUS_ERROR_INTERNAL)
KIOSK_CUPS_CALL(cups_dinfo_t *, cupsCopyDestInfo, (http_t *http, cups_dest_t *dest), (http, dest), NULL)
KIOSK_CUPS_CALL(ipp_status_t, cupsCreateDestJob,
                (http_t *http, cups_dest_t *dest, cups_dinfo_t *info, int *job_id, const char *title,
                 int num_options, cups_option_t *options),
                (http, dest, info, job_id, title, num_options, options), IPP_STATUS_ERROR_INTERNAL)
KIOSK_CUPS_CALL(ipp_t *, cupsDoRequest, (http_t *http, ipp_t *request, const char *resource),
                (http, request, resource), NULL)
KIOSK_CUPS_CALL(ipp_status_t, cupsFinishDestDocument, (http_t *http, cups_dest_t *dest, cups_dinfo_t *info),
                (http, dest, info), IPP_STATUS_ERROR_INTERNAL)
KIOSK_CUPS_CALL_VOID(cupsFreeDestInfo, (cups_dinfo_t *dinfo), (dinfo))
KIOSK_CUPS_CALL_VOID(cupsFreeDests, (int num_dests, cups_dest_t *dests), (num_dests, dests))
KIOSK_CUPS_CALL_VOID(cupsFreeOptions, (int num_options, cups_option_t *options), (num_options, options))
KIOSK_CUPS_CALL(cups_dest_t *, cupsGetDestWithURI, (const char *name, const char *uri), (name, uri), NULL)
KIOSK_CUPS_CALL(cups_dest_t *, cupsGetNamedDest, (http_t *http, const char *name, const char *instance),
                (http, name, instance), NULL)
KIOSK_CUPS_CALL(const char *, cupsGetOption, (const char *name, int num_options, cups_option_t *options),
                (name, num_options, options), NULL)
KIOSK_CUPS_CALL(ipp_status_t, cupsLastError, (void), (), IPP_STATUS_ERROR_INTERNAL)
KIOSK_CUPS_CALL(const char *, cupsLastErrorString, (void), (), kiosk_cups_error)
KIOSK_CUPS_CALL(const char *, cupsServer, (void), (), "localhost")
KIOSK_CUPS_CALL_VOID(cupsSetServer, (const char *server), (server))
KIOSK_CUPS_CALL(http_status_t, cupsStartDestDocument,
                (http_t *http, cups_dest_t *dest, cups_dinfo_t *info, int job_id, const char *docname,
                 const char *format, int num_options, cups_option_t *options, int last_document),
                (http, dest, info, job_id, docname, format, num_options, options, last_document), HTTP_STATUS_ERROR)
KIOSK_CUPS_CALL(http_status_t, cupsWriteRequestData, (http_t *http, const char *buffer, size_t length),
                (http, buffer, length), HTTP_STATUS_ERROR)

// http.h
KIOSK_CUPS_CALL_VOID(httpClose, (http_t *http), (http))
KIOSK_CUPS_CALL(http_t *, httpConnect2,
                (const char *host, int port, http_addrlist_t *addrlist, int family, http_encryption_t encryption,
                 int blocking, int msec, int *cancel),
                (host, port, addrlist, family, encryption, blocking, msec, cancel), NULL)
KIOSK_CUPS_CALL(http_uri_status_t, httpSeparateURI,
                (http_uri_coding_t decoding, const char *uri, char *scheme, int schemelen, char *username,
                 int usernamelen, char *host, int hostlen, int *port, char *resource, int resourcelen),
                (decoding, uri, scheme, schemelen, username, usernamelen, host, hostlen, port, resource,
                 resourcelen),
                HTTP_URI_STATUS_BAD_ARGUMENTS)
KIOSK_CUPS_CALL_VOID(httpSetTimeout, (http_t *http, double timeout, http_timeout_cb_t cb, void *user_data),
                     (http, timeout, cb, user_data))

// ipp.h
KIOSK_CUPS_CALL(ipp_attribute_t *, ippAddInteger,
                (ipp_t *ipp, ipp_tag_t group, ipp_tag_t value_tag, const char *name, int value),
                (ipp, group, value_tag, name, value), NULL)
KIOSK_CUPS_CALL(ipp_attribute_t *, ippAddString,
                (ipp_t *ipp, ipp_tag_t group, ipp_tag_t value_tag, const char *name, const char *language,
                 const char *value),
                (ipp, group, value_tag, name, language, value), NULL)
KIOSK_CUPS_CALL(ipp_attribute_t *, ippAddStrings,
                (ipp_t *ipp, ipp_tag_t group, ipp_tag_t value_tag, const char *name, int num_values,
                 const char *language, const char *const *values),
                (ipp, group, value_tag, name, num_values, language, values), NULL)
KIOSK_CUPS_CALL_VOID(ippDelete, (ipp_t *ipp), (ipp))
KIOSK_CUPS_CALL(ipp_attribute_t *, ippFindAttribute, (ipp_t *ipp, const char *name, ipp_tag_t value_tag),
                (ipp, name, value_tag), NULL)
KIOSK_CUPS_CALL(int, ippGetBoolean, (ipp_attribute_t *attr, int element), (attr, element), 0)
KIOSK_CUPS_CALL(int, ippGetCount, (ipp_attribute_t *attr), (attr), 0)
KIOSK_CUPS_CALL(int, ippGetInteger, (ipp_attribute_t *attr, int element), (attr, element), 0)
KIOSK_CUPS_CALL(int, ippGetResolution, (ipp_attribute_t *attr, int element, int *yres, ipp_res_t *units),
                (attr, element, yres, units), 0)
KIOSK_CUPS_CALL(const char *, ippGetString, (ipp_attribute_t *attr, int element, const char **language),
                (attr, element, language), NULL)
KIOSK_CUPS_CALL(ipp_t *, ippNewRequest, (ipp_op_t op), (op), NULL)
KIOSK_CUPS_CALL(int, ippPort, (void), (), 631)
