// V4L2 (linux/videodev2.h) for the document camera. VIDIOC_* are function-like macros Swift
// cannot import, and ioctl is variadic: these wrappers expose both.
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/videodev2.h>
#include <errno.h>

static inline int kiosk_v4l2_querycap(int fd, struct v4l2_capability *c) { return ioctl(fd, VIDIOC_QUERYCAP, c); }
static inline int kiosk_v4l2_enum_fmt(int fd, struct v4l2_fmtdesc *f) { return ioctl(fd, VIDIOC_ENUM_FMT, f); }
static inline int kiosk_v4l2_enum_framesizes(int fd, struct v4l2_frmsizeenum *f) { return ioctl(fd, VIDIOC_ENUM_FRAMESIZES, f); }
static inline int kiosk_v4l2_s_fmt(int fd, struct v4l2_format *f) { return ioctl(fd, VIDIOC_S_FMT, f); }
static inline int kiosk_v4l2_reqbufs(int fd, struct v4l2_requestbuffers *r) { return ioctl(fd, VIDIOC_REQBUFS, r); }
static inline int kiosk_v4l2_querybuf(int fd, struct v4l2_buffer *b) { return ioctl(fd, VIDIOC_QUERYBUF, b); }
static inline int kiosk_v4l2_qbuf(int fd, struct v4l2_buffer *b) { return ioctl(fd, VIDIOC_QBUF, b); }
static inline int kiosk_v4l2_dqbuf(int fd, struct v4l2_buffer *b) { return ioctl(fd, VIDIOC_DQBUF, b); }
static inline int kiosk_v4l2_streamon(int fd, int type) { return ioctl(fd, VIDIOC_STREAMON, &type); }
static inline int kiosk_v4l2_streamoff(int fd, int type) { return ioctl(fd, VIDIOC_STREAMOFF, &type); }
static inline int kiosk_v4l2_queryctrl(int fd, struct v4l2_queryctrl *q) { return ioctl(fd, VIDIOC_QUERYCTRL, q); }
static inline int kiosk_v4l2_s_ctrl(int fd, struct v4l2_control *c) { return ioctl(fd, VIDIOC_S_CTRL, c); }
static inline unsigned int kiosk_v4l2_buffer_offset(const struct v4l2_buffer *b) { return b->m.offset; }
static inline void *kiosk_map_failed(void) { return MAP_FAILED; }
