// umockdev for the USB device tests (Debian: libumockdev-dev). Test-only: kioskd never links it.
#include <sys/ioctl.h>
#include <linux/usbdevice_fs.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <glib-object.h>
#include <umockdev.h>

// usbdevfs request numbers are function-like macros Swift cannot import.
static inline unsigned long kiosk_usbdevfs_submiturb(void) { return USBDEVFS_SUBMITURB; }
static inline unsigned long kiosk_usbdevfs_discardurb(void) { return USBDEVFS_DISCARDURB; }
static inline unsigned long kiosk_usbdevfs_reapurb(void) { return USBDEVFS_REAPURB; }
static inline unsigned long kiosk_usbdevfs_reapurbndelay(void) { return USBDEVFS_REAPURBNDELAY; }
static inline unsigned long kiosk_usbdevfs_claiminterface(void) { return USBDEVFS_CLAIMINTERFACE; }
static inline unsigned long kiosk_usbdevfs_releaseinterface(void) { return USBDEVFS_RELEASEINTERFACE; }
static inline unsigned long kiosk_usbdevfs_disconnect_claim(void) { return USBDEVFS_DISCONNECT_CLAIM; }
static inline unsigned long kiosk_usbdevfs_get_capabilities(void) { return USBDEVFS_GET_CAPABILITIES; }
static inline unsigned long kiosk_usbdevfs_clear_halt(void) { return USBDEVFS_CLEAR_HALT; }
static inline unsigned long kiosk_usbdevfs_reset(void) { return USBDEVFS_RESET; }
static inline unsigned long kiosk_usbdevfs_resetep(void) { return USBDEVFS_RESETEP; }
static inline unsigned long kiosk_usbdevfs_setinterface(void) { return USBDEVFS_SETINTERFACE; }
static inline unsigned long kiosk_usbdevfs_setconfiguration(void) { return USBDEVFS_SETCONFIGURATION; }
static inline unsigned long kiosk_usbdevfs_getdriver(void) { return USBDEVFS_GETDRIVER; }
static inline unsigned long kiosk_usbdevfs_disconnect(void) { return USBDEVFS_DISCONNECT; }
static inline unsigned long kiosk_usbdevfs_connect(void) { return USBDEVFS_CONNECT; }
static inline unsigned long kiosk_usbdevfs_ioctl(void) { return USBDEVFS_IOCTL; }
static inline unsigned long kiosk_ioc_size(unsigned long req) { return _IOC_SIZE(req); }

// struct usbdevfs_urb field access (the struct has a union and a flexible array).
static inline size_t kiosk_urb_size(void) { return sizeof(struct usbdevfs_urb); }
static inline size_t kiosk_urb_buffer_offset(void) { return offsetof(struct usbdevfs_urb, buffer); }
static inline size_t kiosk_urb_status_offset(void) { return offsetof(struct usbdevfs_urb, status); }
static inline size_t kiosk_urb_actual_length_offset(void) { return offsetof(struct usbdevfs_urb, actual_length); }
static inline unsigned char kiosk_urb_type(const void *u) { return ((const struct usbdevfs_urb *)u)->type; }
static inline unsigned char kiosk_urb_endpoint(const void *u) { return ((const struct usbdevfs_urb *)u)->endpoint; }
static inline int kiosk_urb_buffer_length(const void *u) { return ((const struct usbdevfs_urb *)u)->buffer_length; }

// g_signal_connect is a macro; this connects a C callback to "handle-ioctl".
typedef gboolean (*kiosk_ioctl_handler)(UMockdevIoctlBase *base, UMockdevIoctlClient *client, gpointer user);
static inline gulong kiosk_connect_handle_ioctl(UMockdevIoctlBase *base, kiosk_ioctl_handler fn, gpointer user) {
    return g_signal_connect_data(base, "handle-ioctl", G_CALLBACK(fn), user, NULL, (GConnectFlags)0);
}
