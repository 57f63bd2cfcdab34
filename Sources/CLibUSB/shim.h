// libusb-1.0 for Swift. Debian: libusb-1.0-0-dev (pkg-config adds -I/usr/include/libusb-1.0).
#include <libusb.h>

// libusb_hotplug_callback_fn takes the callback by pointer; Swift closures with
// @convention(c) match this typedef.
typedef int (*kiosk_hotplug_fn)(libusb_context *ctx, libusb_device *device,
                                libusb_hotplug_event event, void *user_data);

static inline int kiosk_hotplug_register(libusb_context *ctx, int events, kiosk_hotplug_fn fn,
                                         void *user_data, libusb_hotplug_callback_handle *handle) {
    return libusb_hotplug_register_callback(ctx, (libusb_hotplug_event)events, LIBUSB_HOTPLUG_NO_FLAGS,
                                            LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
                                            LIBUSB_HOTPLUG_MATCH_ANY, fn, user_data, handle);
}
