/*
 * ofnet: the native half of ofswitch's Linux ports (src/netdev/native.ts loads it).
 *
 * Node has no AF_PACKET or TUN/TAP API, so this addon gives JavaScript, per port, a file
 * descriptor that libuv polls (uv_poll_t) and two batch operations:
 *
 * - receive: on each wake-up at most `budget` frames are copied into ONE JavaScript buffer the
 *   port was started with, each behind an 8-byte record header, and ONE JavaScript callback is
 *   made with the count. Bounded work per wake-up keeps the event loop responsive: frames left
 *   in the ring keep the descriptor readable (epoll is level-triggered), so the next turn of the
 *   loop picks them up after timers and sockets had their go.
 * - transmit: the caller packs frames back to back into one buffer with a length array; a
 *   packet socket sends them with one sendmmsg(2), a TAP with one write(2) per frame (a
 *   character device has no batch write).
 *
 * Record header (little-endian, as the machine): u32 length of the frame that follows, u16
 * flags (OFNET_F_*), u16 zero. Records follow each other without padding.
 *
 * AF_PACKET ports use a TPACKET_V2 receive ring (mmap): the kernel writes frames into the ring
 * and the addon copies them out, with no system call per frame. The ring's frame header carries
 * what PACKET_AUXDATA would carry in a control message for recvmsg(): the VLAN tag the kernel
 * took off the frame (a veth or a NIC with rx-vlan offload strips it into skb metadata) and the
 * checksum status. The tag is put back into the frame here (OFNET_F_VLAN_RESTORED), and frames
 * whose L4 checksum is still partial (TP_STATUS_CSUMNOTREADY: the sender's stack left it to a
 * NIC that a veth never had) are flagged OFNET_F_CSUM_PARTIAL for JavaScript to complete.
 *
 * Nothing here throws once a port is open: errors on the descriptor (the interface went down
 * or disappeared) reach the receive callback as a negative errno, and send() returns how many
 * frames went out. Opening a port throws an Error whose `code` is the errno's name.
 *
 * Everything runs on the main thread: no locks, no thread-safe functions.
 */

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif
#ifndef TP_STATUS_VLAN_TPID_VALID
#define TP_STATUS_VLAN_TPID_VALID (1 << 6)
#endif
#ifndef TP_STATUS_CSUM_VALID
#define TP_STATUS_CSUM_VALID (1 << 7)
#endif

/* Record flags: keep in step with src/netdev/native.ts. */
#define OFNET_F_VLAN_RESTORED 1 /* an 802.1Q/802.1ad tag was put back after the MAC addresses */
#define OFNET_F_CSUM_PARTIAL 2  /* the L4 checksum holds only the pseudo-header sum */
#define OFNET_F_TRUNCATED 4     /* the frame was longer than a ring slot; the tail is missing */
#define OFNET_F_CSUM_VALID 8    /* the kernel already verified the checksums */

#define REC_HDR 8
#define ABI_VERSION 1

enum port_kind { KIND_PACKET = 1, KIND_TAP = 2, KIND_RAWIP = 3 };

typedef struct port {
  int fd;
  int kind;
  int polling;          /* uv_poll_start done and not stopped */
  int closing;          /* uv_close called, waiting for on_closed */
  int finalized;        /* the JavaScript object is gone */
  int in_cb;            /* inside the JavaScript callback: the async context must outlive it */
  uv_poll_t poll;
  napi_env env;
  napi_ref self;        /* strong while polling: a polling port is never collected */
  int self_strong;
  napi_ref cb;
  napi_ref rxbuf_ref;
  uint8_t *rxbuf;
  size_t rxcap;
  unsigned budget;
  unsigned max_frame;   /* TAP: largest frame read */
  napi_async_context actx;
  /* TPACKET_V2 ring */
  uint8_t *ring;
  size_t ring_len;
  unsigned frame_size;
  unsigned frame_nr;
  unsigned head;
} port_t;

typedef struct monitor {
  int fd;
  int closing;
  int in_cb;
  int finalized;
  uv_poll_t poll;
  napi_env env;
  napi_ref self;
  napi_ref cb;
  napi_async_context actx;
} monitor_t;

/* ------------------------------------------------------------------------------------------ */
/* Small N-API helpers                                                                         */
/* ------------------------------------------------------------------------------------------ */

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      throw_last(env, #call);                                              \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static void throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    char msg[256];
    snprintf(msg, sizeof msg, "ofnet: %s failed: %s", what,
             info && info->error_message ? info->error_message : "unknown");
    napi_throw_error(env, NULL, msg);
  }
}

/* Throws an Error with code = errno name (ENODEV, EPERM, ...) and a message naming `what`. */
static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[320];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char *code = strerrorname_np(err);
  napi_throw_error(env, code ? code : "EUNKNOWN", msg);
  return NULL;
}

static napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

static int get_string(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok) return -1;
  return (int)len;
}

/* Reads an interface name (1..15 bytes) into out[IFNAMSIZ]; throws and returns -1 otherwise. */
static int get_ifname(napi_env env, napi_value v, char *out, int allow_empty) {
  char tmp[64];
  int len = get_string(env, v, tmp, sizeof tmp);
  if (len < 0 || len >= IFNAMSIZ || (len == 0 && !allow_empty)) {
    napi_throw_range_error(env, "EINVAL", "interface names are 1 to 15 bytes");
    return -1;
  }
  memcpy(out, tmp, (size_t)len + 1);
  return len;
}

static void set_ifr_name(struct ifreq *ifr, const char *name) {
  size_t n = strnlen(name, IFNAMSIZ - 1);
  memcpy(ifr->ifr_name, name, n);
  ifr->ifr_name[n] = 0;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) {
  return napi_get_value_uint32(env, v, out) == napi_ok ? 0 : -1;
}

static void call_js(napi_env env, napi_ref self, napi_ref cbref, napi_async_context actx, size_t argc,
                    napi_value *argv) {
  napi_value recv, cb, result;
  if (napi_get_reference_value(env, self, &recv) != napi_ok || recv == NULL) return;
  if (napi_get_reference_value(env, cbref, &cb) != napi_ok || cb == NULL) return;
  /* napi_make_callback runs process.nextTick callbacks and microtasks afterwards, as Node does
   * after any I/O callback. An exception from JavaScript becomes an uncaughtException, as it
   * would from a socket's 'data' handler. */
  napi_status st = napi_make_callback(env, actx, recv, cb, argc, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Ports                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void port_free(port_t *p) {
  if (p->ring) munmap(p->ring, p->ring_len);
  p->ring = NULL;
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  free(p);
}

static void port_release_refs(port_t *p) {
  napi_env env = p->env;
  if (p->cb) napi_delete_reference(env, p->cb);
  if (p->rxbuf_ref) napi_delete_reference(env, p->rxbuf_ref);
  /* close() called from inside the callback: napi_make_callback is still using the context;
   * on_port_readable destroys it when the callback returns. */
  if (p->actx && !p->in_cb) {
    napi_async_destroy(env, p->actx);
    p->actx = NULL;
  }
  p->cb = p->rxbuf_ref = NULL;
  p->rxbuf = NULL;
  if (p->self && p->self_strong) {
    uint32_t rc = 0;
    napi_reference_unref(env, p->self, &rc);
    p->self_strong = 0;
  }
}

static void on_port_closed(uv_handle_t *h) {
  port_t *p = h->data;
  p->closing = 2;
  if (p->finalized) port_free(p);
}

/* Stops polling, closes the descriptor and unmaps the ring. The struct itself lives until both
 * libuv has closed the handle and the JavaScript object is collected. */
static void port_shutdown(port_t *p) {
  if (p->closing) return;
  p->closing = 1;
  if (p->polling) {
    uv_poll_stop(&p->poll);
    p->polling = 0;
  }
  port_release_refs(p);
  uv_close((uv_handle_t *)&p->poll, on_port_closed);
  if (p->ring) munmap(p->ring, p->ring_len);
  p->ring = NULL;
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
}

static void port_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  port_t *p = data;
  p->finalized = 1;
  if (p->self) napi_delete_reference(env, p->self);
  p->self = NULL;
  /* Never initialised a poll handle (open failed after wrap) or already closed by libuv. */
  if (p->closing == 2 || p->closing == -1) port_free(p);
  else if (!p->closing) {
    /* Collected without close(): possible only when never started (a started port holds a
     * strong reference to itself). The poll handle was initialised at open. */
    p->closing = 1;
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    if (p->ring) munmap(p->ring, p->ring_len);
    p->ring = NULL;
    uv_close((uv_handle_t *)&p->poll, on_port_closed);
  }
}

static port_t *unwrap_port(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_unwrap(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "ofnet: not a port");
    return NULL;
  }
  return p;
}

/* Frames out of the TPACKET_V2 ring into the JavaScript buffer; returns how many. */
static unsigned ring_drain(port_t *p) {
  unsigned n = 0;
  size_t off = 0;
  while (n < p->budget) {
    struct tpacket2_hdr *h = (struct tpacket2_hdr *)(p->ring + (size_t)p->head * p->frame_size);
    uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (!(status & TP_STATUS_USER)) break;
    uint32_t snap = h->tp_snaplen;
    const uint8_t *data = (const uint8_t *)h + h->tp_mac;
    /* tp_vlan_tci is meaningful when VLAN_VALID is set; a TCI of 0 (priority 0, VLAN 0) is a
     * real tag too, hence the status bit rather than the value. */
    int vlan = (status & TP_STATUS_VLAN_VALID) && snap >= 12;
    size_t need = REC_HDR + snap + (vlan ? 4 : 0);
    if (off + need > p->rxcap) break; /* cannot happen with rxcap >= budget * slot; kept safe */
    uint16_t flags = 0;
    uint8_t *rec = p->rxbuf + off;
    uint8_t *dst = rec + REC_HDR;
    if (vlan) {
      uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) && h->tp_vlan_tpid ? h->tp_vlan_tpid : ETH_P_8021Q;
      memcpy(dst, data, 12);
      dst[12] = tpid >> 8;
      dst[13] = tpid & 0xff;
      dst[14] = h->tp_vlan_tci >> 8;
      dst[15] = h->tp_vlan_tci & 0xff;
      memcpy(dst + 16, data + 12, snap - 12);
      flags |= OFNET_F_VLAN_RESTORED;
    } else {
      memcpy(dst, data, snap);
    }
    if (status & TP_STATUS_CSUMNOTREADY) flags |= OFNET_F_CSUM_PARTIAL;
    if (status & TP_STATUS_CSUM_VALID) flags |= OFNET_F_CSUM_VALID;
    if (snap < h->tp_len) flags |= OFNET_F_TRUNCATED;
    uint32_t len = (uint32_t)(need - REC_HDR);
    memcpy(rec, &len, 4);
    memcpy(rec + 4, &flags, 2);
    memset(rec + 6, 0, 2);
    off += need;
    __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    p->head = p->head + 1 == p->frame_nr ? 0 : p->head + 1;
    n++;
  }
  return n;
}

/* Frames read(2) from a TAP into the JavaScript buffer; *err gets -errno of a real failure. */
static unsigned tap_drain(port_t *p, int *err) {
  unsigned n = 0;
  size_t off = 0;
  while (n < p->budget && off + REC_HDR + p->max_frame <= p->rxcap) {
    ssize_t r = read(p->fd, p->rxbuf + off + REC_HDR, p->max_frame);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *err = -errno;
      break;
    }
    uint32_t len = (uint32_t)r;
    uint16_t flags = 0;
    memcpy(p->rxbuf + off, &len, 4);
    memcpy(p->rxbuf + off + 4, &flags, 2);
    memset(p->rxbuf + off + 6, 0, 2);
    off += REC_HDR + len;
    n++;
  }
  return n;
}

static void on_port_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  port_t *p = h->data;
  if (p->closing || p->rxbuf == NULL) return;
  napi_env env = p->env;
  unsigned n = 0;
  int err = 0;
  if (status < 0) {
    /* libuv turns POLLERR into UV_EBADF and stops the handle. On a packet socket POLLERR is a
     * pending socket error (ENETDOWN when the interface goes down or is unregistered), not a
     * dead descriptor: take the error (reading SO_ERROR clears it) and poll again, so the port
     * hears frames again when the interface comes back up. A TAP reports POLLERR only once it
     * is detached from its device: that one stays stopped. */
    p->polling = 0;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (p->kind == KIND_PACKET && getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0) {
      err = soerr ? -soerr : 0;
      if (uv_poll_start(&p->poll, UV_READABLE, on_port_readable) == 0) p->polling = 1;
      n = ring_drain(p);
    } else if (p->kind == KIND_TAP) {
      n = tap_drain(p, &err);
      if (err == 0) err = -EBADFD;
    } else {
      err = status;
    }
    if (n == 0 && err == 0) return;
  } else if (p->kind == KIND_PACKET) {
    n = ring_drain(p);
    if (n == 0) {
      /* Readable with nothing in the ring: an error may be pending. Reading SO_ERROR clears it. */
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr != 0) err = -soerr;
      else return; /* spurious */
    }
  } else {
    n = tap_drain(p, &err);
    if (n == 0 && err == 0) return;
  }
  if (err != 0 && p->polling && (err == -EBADFD || err == -ENODEV || err == -ENXIO)) {
    /* The descriptor is dead for good (the TAP was deleted): stop polling so a level-triggered
     * error does not spin; JavaScript closes the port. */
    uv_poll_stop(&p->poll);
    p->polling = 0;
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value argv[2] = {num(env, n), num(env, err)};
  p->in_cb = 1;
  call_js(env, p->self, p->cb, p->actx, 2, argv);
  p->in_cb = 0;
  if (p->closing && p->actx) {
    napi_async_destroy(env, p->actx);
    p->actx = NULL;
  }
  napi_close_handle_scope(env, scope);
}

/* Wraps a fresh port around fd in a new JavaScript object. On failure closes fd. */
static napi_value make_port(napi_env env, port_t *p) {
  napi_value obj;
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    port_free(p);
    throw_last(env, "napi_get_uv_event_loop");
    return NULL;
  }
  int r = uv_poll_init(loop, &p->poll, p->fd);
  if (r != 0) {
    int e = -r;
    port_free(p);
    return throw_errno(env, e, "uv_poll_init");
  }
  p->poll.data = p;
  p->env = env;
  if (napi_create_object(env, &obj) != napi_ok || napi_wrap(env, obj, p, port_finalize, NULL, NULL) != napi_ok) {
    p->closing = 1;
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    uv_close((uv_handle_t *)&p->poll, on_port_closed);
    p->finalized = 1; /* freed by on_port_closed */
    throw_last(env, "napi_wrap");
    return NULL;
  }
  /* A weak reference for now; start() makes it strong so a polling port is never collected. */
  napi_create_reference(env, obj, 0, &p->self);
  return obj;
}

static port_t *port_alloc(int fd, int kind) {
  port_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->fd = fd;
  p->kind = kind;
  return p;
}

static int ifindex_of(int fd, const char *name) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  set_ifr_name(&ifr, name);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) return -errno;
  return ifr.ifr_ifindex;
}

/* openPacket(ifname, ringFrames, frameSize) -> port. Throws Error{code} on failure. */
static napi_value OpenPacket(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  uint32_t want_frames = 2048, frame_size = 2048;
  if (argc < 1 || get_ifname(env, argv[0], name, 0) < 0) return NULL;
  if (argc > 1) get_u32(env, argv[1], &want_frames);
  if (argc > 2) get_u32(env, argv[2], &frame_size);
  frame_size = (frame_size + TPACKET_ALIGNMENT - 1) & ~(TPACKET_ALIGNMENT - 1);
  if (frame_size < 256 || frame_size > (1u << 20) || want_frames < 8 || want_frames > (1u << 20)) {
    napi_throw_range_error(env, NULL, "ofnet: ring frames 8..1M, frame size 256..1M");
    return NULL;
  }

  /* Protocol 0 at first: the socket receives nothing until bind(), after the ring is set up,
   * so no frame lands in the socket's ordinary receive queue. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket(AF_PACKET)");
  int ifindex = ifindex_of(fd, name);
  if (ifindex < 0) {
    close(fd);
    char what[64];
    snprintf(what, sizeof what, "interface %s", name);
    return throw_errno(env, -ifindex, what);
  }
  int one = 1, v2 = TPACKET_V2;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v2, sizeof v2) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "PACKET_VERSION TPACKET_V2");
  }
  /* Frames this socket sends (and any other local sender's) are not looped back to it. */
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "PACKET_IGNORE_OUTGOING");
  }
  /* Straight to the driver: a switch port has no use for the interface's qdisc. Best effort. */
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  /* The ring's frame header already carries the VLAN tag and checksum status that AUXDATA
   * gives recvmsg() callers; set it anyway so a recvmsg() fallback would see them too. */
  setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one);

  /* Blocks of at least 64 KiB holding whole frames; the ring is blocks * frames per block. */
  unsigned block = 1u << 16;
  while (block < frame_size) block <<= 1;
  unsigned per_block = block / frame_size;
  unsigned blocks = (want_frames + per_block - 1) / per_block;
  struct tpacket_req req = {
      .tp_block_size = block,
      .tp_block_nr = blocks,
      .tp_frame_size = frame_size,
      .tp_frame_nr = blocks * per_block,
  };
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "PACKET_RX_RING");
  }
  size_t ring_len = (size_t)block * blocks;
  void *ring = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd, 0);
  if (ring == MAP_FAILED) ring = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "mmap ring");
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int e = errno;
    munmap(ring, ring_len);
    close(fd);
    return throw_errno(env, e, "bind");
  }
  /* Promiscuous: a switch port takes every frame on the wire. Counted by the kernel per
   * membership and dropped automatically when the socket closes. */
  struct packet_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.mr_ifindex = ifindex;
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
    int e = errno;
    munmap(ring, ring_len);
    close(fd);
    return throw_errno(env, e, "PACKET_MR_PROMISC");
  }
  port_t *p = port_alloc(fd, KIND_PACKET);
  if (!p) {
    munmap(ring, ring_len);
    close(fd);
    return throw_errno(env, ENOMEM, "port");
  }
  p->ring = ring;
  p->ring_len = ring_len;
  p->frame_size = frame_size;
  p->frame_nr = req.tp_frame_nr;
  p->max_frame = frame_size;
  napi_value obj = make_port(env, p);
  if (!obj) return NULL;
  napi_value v;
  napi_create_uint32(env, (uint32_t)ifindex, &v);
  napi_set_named_property(env, obj, "ifindex", v);
  napi_create_uint32(env, p->frame_nr, &v);
  napi_set_named_property(env, obj, "ringFrames", v);
  /* Largest Ethernet frame a slot holds whole: tpacket_rcv puts the network header at
   * TPACKET_ALIGN(TPACKET2_HDRLEN + 16) = 80 and the 14-byte MAC header just before it. */
  napi_create_uint32(env, frame_size - (TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - ETH_HLEN), &v);
  napi_set_named_property(env, obj, "maxFrame", v);
  return obj;
}

/* openTap(name, maxFrame) -> port with .name (the kernel's, if name was a pattern or empty). */
static napi_value OpenTap(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ] = "";
  uint32_t max_frame = 65536;
  if (argc < 1 || get_ifname(env, argv[0], name, 1) < 0) return NULL;
  if (argc > 1) get_u32(env, argv[1], &max_frame);
  if (max_frame < 64 || max_frame > 65536 + 64) max_frame = 65536;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  /* IFF_NO_PI: frames without the 4-byte packet-information prefix. No IFF_VNET_HDR: the
   * kernel completes checksums and segments before handing frames over. */
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  set_ifr_name(&ifr, name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    char what[64];
    snprintf(what, sizeof what, "TUNSETIFF %s", name);
    return throw_errno(env, e, what);
  }
  port_t *p = port_alloc(fd, KIND_TAP);
  if (!p) {
    close(fd);
    return throw_errno(env, ENOMEM, "port");
  }
  p->max_frame = max_frame;
  napi_value obj = make_port(env, p);
  if (!obj) return NULL;
  napi_value v;
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "name", v);
  /* A tun fd is no socket: ask through a throwaway datagram socket. */
  int idx = -1;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s >= 0) {
    idx = ifindex_of(s, ifr.ifr_name);
    close(s);
  }
  napi_create_int32(env, idx, &v);
  napi_set_named_property(env, obj, "ifindex", v);
  napi_create_uint32(env, max_frame, &v);
  napi_set_named_property(env, obj, "maxFrame", v);
  return obj;
}

/* Raw IP ports have their own wake-up handler (the "Raw IP ports" section below). */
static void on_raw_readable(uv_poll_t *h, int status, int events);

/* start(port, rxBuffer, budget, cb(count, err)): begins polling; frames go into rxBuffer. */
static napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "start(port, rxBuffer, budget, cb)");
    return NULL;
  }
  port_t *p = unwrap_port(env, argv[0]);
  if (!p) return NULL;
  if (p->closing) return throw_errno(env, EBADF, "start: port closed");
  if (p->polling) return throw_errno(env, EBUSY, "start: already started");
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "start: rxBuffer must be a Buffer");
    return NULL;
  }
  uint32_t budget = 0;
  if (get_u32(env, argv[2], &budget) != 0 || budget == 0) budget = 256;
  size_t slot = REC_HDR + (p->kind == KIND_PACKET ? p->frame_size + 4 : p->max_frame);
  if (len < slot) {
    napi_throw_range_error(env, NULL, "start: rxBuffer smaller than one frame slot");
    return NULL;
  }
  /* A ring port never takes more frames than the buffer is sure to hold; a TAP reads while a
   * whole largest frame still fits, so small frames pack densely. */
  if (p->kind == KIND_PACKET && (size_t)budget * slot > len) budget = (uint32_t)(len / slot);
  napi_valuetype t;
  napi_typeof(env, argv[3], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, NULL, "start: cb must be a function");
    return NULL;
  }
  CHECK(napi_create_reference(env, argv[1], 1, &p->rxbuf_ref));
  CHECK(napi_create_reference(env, argv[3], 1, &p->cb));
  napi_value rname;
  napi_create_string_utf8(env, "ofnet.port", NAPI_AUTO_LENGTH, &rname);
  CHECK(napi_async_init(env, NULL, rname, &p->actx));
  p->rxbuf = data;
  p->rxcap = len;
  p->budget = budget;
  int r = uv_poll_start(&p->poll, UV_READABLE, p->kind == KIND_RAWIP ? on_raw_readable : on_port_readable);
  if (r != 0) {
    port_release_refs(p);
    return throw_errno(env, -r, "uv_poll_start");
  }
  p->polling = 1;
  uint32_t rc = 0;
  napi_reference_ref(env, p->self, &rc);
  p->self_strong = 1;
  return num(env, budget);
}

/* send(port, buf, lens: Uint32Array, count) -> frames sent. Frames lie back to back in buf. */
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  port_t *p = argc >= 4 ? unwrap_port(env, argv[0]) : NULL;
  if (!p) return NULL;
  void *data = NULL;
  size_t blen = 0;
  napi_typedarray_type tt;
  size_t nlens = 0;
  void *lens_data = NULL;
  uint32_t count = 0;
  if (napi_get_buffer_info(env, argv[1], &data, &blen) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &tt, &nlens, &lens_data, NULL, NULL) != napi_ok ||
      tt != napi_uint32_array || get_u32(env, argv[3], &count) != 0) {
    napi_throw_type_error(env, NULL, "send(port, buf, lens: Uint32Array, count)");
    return NULL;
  }
  if (count > nlens) count = (uint32_t)nlens;
  const uint32_t *lens = lens_data;
  if (p->fd < 0) { for (uint32_t j = 0; j < count; j++) ((uint32_t *)lens_data)[j] = 0; return num(env, 0); }
  uint8_t *base = data;
  size_t off = 0;
  uint32_t sent = 0;
  /* Frames not sent get their length zeroed, so the caller can count bytes and drops. */
  uint32_t *lz = (uint32_t *)lens;
  uint32_t i = 0;
  if (p->kind == KIND_PACKET) {
    enum { CHUNK = 64 };
    struct mmsghdr msgs[CHUNK];
    struct iovec iov[CHUNK];
    while (i < count) {
      unsigned k = 0;
      size_t o = off;
      while (k < CHUNK && i + k < count && o + lens[i + k] <= blen) {
        iov[k].iov_base = base + o;
        iov[k].iov_len = lens[i + k];
        memset(&msgs[k], 0, sizeof msgs[k]);
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
        o += lens[i + k];
        k++;
      }
      if (k == 0) break; /* lengths run past the buffer: the rest is not sent */
      int r = sendmmsg(p->fd, msgs, k, MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        /* The chunk's first frame failed. A frame the device refuses (too long for its MTU) is
         * skipped; anything else (socket buffer full, link down, device gone) would fail the
         * rest the same way: stop. */
        if (errno != EMSGSIZE && errno != EINVAL) break;
        off += lens[i];
        lz[i] = 0;
        i++;
        continue;
      }
      for (int j = 0; j < r; j++) off += lens[i + j];
      sent += (uint32_t)r;
      i += (uint32_t)r;
      /* r < k: the next call reports the failing frame's error (or sends it). */
    }
  } else {
    for (; i < count; i++) {
      if (off + lens[i] > blen) break;
      ssize_t r;
      do r = write(p->fd, base + off, lens[i]);
      while (r < 0 && errno == EINTR);
      off += lens[i];
      if (r >= 0) {
        sent++;
        continue;
      }
      lz[i] = 0;
      if (errno == EAGAIN || errno == EIO || errno == EBADFD) {
        i++;
        break; /* full, down, gone */
      }
    }
  }
  for (; i < count; i++) lz[i] = 0;
  return num(env, sent);
}

/* close(port): stops polling and closes the descriptor. Idempotent. */
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  port_t *p = argc >= 1 ? unwrap_port(env, argv[0]) : NULL;
  if (!p) return NULL;
  port_shutdown(p);
  return NULL;
}

/* ringStats(port) -> [packets, drops] since the last call (PACKET_STATISTICS resets). */
static napi_value RingStats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  port_t *p = argc >= 1 ? unwrap_port(env, argv[0]) : NULL;
  if (!p) return NULL;
  struct tpacket_stats st = {0, 0};
  if (p->kind == KIND_PACKET && p->fd >= 0) {
    socklen_t sl = sizeof st;
    if (getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) < 0) memset(&st, 0, sizeof st);
  }
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, num(env, st.tp_packets));
  napi_set_element(env, arr, 1, num(env, st.tp_drops));
  return arr;
}

/* ------------------------------------------------------------------------------------------ */
/* Interfaces: flags, MTU, address                                                             */
/* ------------------------------------------------------------------------------------------ */

static int ctl_socket(void) { return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

/* ifInfo(name) -> { index, flags, mtu, mac: Buffer } or -errno. */
static napi_value IfInfo(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  if (argc < 1 || get_ifname(env, argv[0], name, 0) < 0) return NULL;
  int s = ctl_socket();
  if (s < 0) return num(env, -errno);
  struct ifreq ifr;
  int index, flags, mtu;
  uint8_t mac[6];
  memset(&ifr, 0, sizeof ifr);
  set_ifr_name(&ifr, name);
  if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) goto fail;
  index = ifr.ifr_ifindex;
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) goto fail;
  flags = ifr.ifr_flags & 0xffff;
  if (ioctl(s, SIOCGIFMTU, &ifr) < 0) goto fail;
  mtu = ifr.ifr_mtu;
  if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) goto fail;
  memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  close(s);
  /* IFF_LOWER_UP (carrier) and IFF_DORMANT live above the 16 bits SIOCGIFFLAGS returns; the
   * kernel folds carrier into IFF_RUNNING, which is what link state follows. */
  napi_value obj, v, buf;
  napi_create_object(env, &obj);
  napi_create_int32(env, index, &v);
  napi_set_named_property(env, obj, "index", v);
  napi_create_int32(env, flags, &v);
  napi_set_named_property(env, obj, "flags", v);
  napi_create_int32(env, mtu, &v);
  napi_set_named_property(env, obj, "mtu", v);
  napi_create_buffer_copy(env, 6, mac, NULL, &buf);
  napi_set_named_property(env, obj, "mac", buf);
  return obj;
fail: {
  int e = errno;
  close(s);
  return num(env, -e);
}
}

/* setIfUp(name, up) -> 0 or -errno: IFF_UP on or off, other flags untouched. */
static napi_value SetIfUp(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  bool up = true;
  if (argc < 2 || get_ifname(env, argv[0], name, 0) < 0) return NULL;
  if (napi_get_value_bool(env, argv[1], &up) != napi_ok) {
    napi_throw_type_error(env, NULL, "setIfUp(name, up)");
    return NULL;
  }
  int s = ctl_socket();
  if (s < 0) return num(env, -errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  set_ifr_name(&ifr, name);
  int r = 0;
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) r = -errno;
  else if (!!(ifr.ifr_flags & IFF_UP) != up) {
    ifr.ifr_flags = up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP);
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) r = -errno;
  }
  close(s);
  return num(env, r);
}

/* setIfMac(name, mac: Buffer(6)) -> 0 or -errno. */
static napi_value SetIfMac(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  void *mac = NULL;
  size_t len = 0;
  if (argc < 2 || get_ifname(env, argv[0], name, 0) < 0) return NULL;
  if (napi_get_buffer_info(env, argv[1], &mac, &len) != napi_ok || len != 6) {
    napi_throw_type_error(env, NULL, "setIfMac(name, mac: 6-byte Buffer)");
    return NULL;
  }
  int s = ctl_socket();
  if (s < 0) return num(env, -errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  set_ifr_name(&ifr, name);
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
  int r = ioctl(s, SIOCSIFHWADDR, &ifr) < 0 ? -errno : 0;
  close(s);
  return num(env, r);
}

/* setIfMtu(name, mtu) -> 0 or -errno. */
static napi_value SetIfMtu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  uint32_t mtu = 0;
  if (argc < 2 || get_ifname(env, argv[0], name, 0) < 0) return NULL;
  if (get_u32(env, argv[1], &mtu) != 0) {
    napi_throw_type_error(env, NULL, "setIfMtu(name, mtu)");
    return NULL;
  }
  int s = ctl_socket();
  if (s < 0) return num(env, -errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  set_ifr_name(&ifr, name);
  ifr.ifr_mtu = (int)mtu;
  int r = ioctl(s, SIOCSIFMTU, &ifr) < 0 ? -errno : 0;
  close(s);
  return num(env, r);
}

/* ------------------------------------------------------------------------------------------ */
/* Link monitor (rtnetlink RTMGRP_LINK)                                                        */
/* ------------------------------------------------------------------------------------------ */

static void on_monitor_closed(uv_handle_t *h) {
  monitor_t *m = h->data;
  m->closing = 2;
  if (m->finalized) free(m);
}

static void monitor_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  monitor_t *m = data;
  m->finalized = 1;
  if (m->self) napi_delete_reference(env, m->self);
  m->self = NULL;
  if (m->closing == 2) free(m);
  else if (!m->closing) {
    m->closing = 1;
    if (m->fd >= 0) close(m->fd);
    m->fd = -1;
    uv_close((uv_handle_t *)&m->poll, on_monitor_closed);
  }
}

/* One callback per wake-up with an array of { index, name, flags, mtu, deleted }. Messages are
 * read in a bounded loop (64 datagrams); the rest wait for the next turn of the loop. */
static void on_monitor_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  monitor_t *m = h->data;
  if (m->closing) return;
  napi_env env = m->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t n = 0;
  int overrun = 0;
  static uint8_t buf[65536];
  for (int round = 0; status >= 0 && round < 64; round++) {
    ssize_t r = recv(m->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      /* ENOBUFS: the kernel dropped notifications; JavaScript re-reads every port's state. */
      if (errno == ENOBUFS) overrun = 1;
      break;
    }
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)r); nh = NLMSG_NEXT(nh, r)) {
      if (nh->nlmsg_type != RTM_NEWLINK && nh->nlmsg_type != RTM_DELLINK) continue;
      struct ifinfomsg *ifi = NLMSG_DATA(nh);
      const char *ifname = NULL;
      int mtu = -1;
      int alen = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof *ifi));
      for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if (a->rta_type == IFLA_IFNAME) ifname = RTA_DATA(a);
        else if (a->rta_type == IFLA_MTU && RTA_PAYLOAD(a) >= 4) memcpy(&mtu, RTA_DATA(a), 4);
      }
      napi_value ev, v;
      napi_create_object(env, &ev);
      napi_create_int32(env, ifi->ifi_index, &v);
      napi_set_named_property(env, ev, "index", v);
      napi_create_string_utf8(env, ifname ? ifname : "", NAPI_AUTO_LENGTH, &v);
      napi_set_named_property(env, ev, "name", v);
      napi_create_int64(env, ifi->ifi_flags, &v);
      napi_set_named_property(env, ev, "flags", v);
      napi_create_int32(env, mtu, &v);
      napi_set_named_property(env, ev, "mtu", v);
      napi_get_boolean(env, nh->nlmsg_type == RTM_DELLINK, &v);
      napi_set_named_property(env, ev, "deleted", v);
      napi_set_element(env, arr, n++, ev);
    }
  }
  if (n > 0 || overrun || status < 0) {
    napi_value argv[2] = {arr, num(env, status < 0 ? status : overrun ? -ENOBUFS : 0)};
    m->in_cb = 1;
    call_js(env, m->self, m->cb, m->actx, 2, argv);
    m->in_cb = 0;
    if (m->closing && m->actx) {
      napi_async_destroy(env, m->actx);
      m->actx = NULL;
    }
  }
  if (status < 0 && !m->closing) uv_poll_stop(&m->poll);
  napi_close_handle_scope(env, scope);
}

/* linkMonitor(cb(events, err)) -> monitor. */
static napi_value LinkMonitor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, NULL, "linkMonitor(cb)");
    return NULL;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return throw_errno(env, errno, "socket(NETLINK_ROUTE)");
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "bind(RTMGRP_LINK)");
  }
  int rcv = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  monitor_t *m = calloc(1, sizeof *m);
  if (!m) {
    close(fd);
    return throw_errno(env, ENOMEM, "monitor");
  }
  m->fd = fd;
  m->env = env;
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  int r = uv_poll_init(loop, &m->poll, fd);
  if (r != 0) {
    close(fd);
    free(m);
    return throw_errno(env, -r, "uv_poll_init");
  }
  m->poll.data = m;
  napi_value obj, rname;
  CHECK(napi_create_object(env, &obj));
  CHECK(napi_wrap(env, obj, m, monitor_finalize, NULL, NULL));
  CHECK(napi_create_reference(env, obj, 1, &m->self));
  CHECK(napi_create_reference(env, argv[0], 1, &m->cb));
  napi_create_string_utf8(env, "ofnet.linkMonitor", NAPI_AUTO_LENGTH, &rname);
  CHECK(napi_async_init(env, NULL, rname, &m->actx));
  r = uv_poll_start(&m->poll, UV_READABLE, on_monitor_readable);
  if (r != 0) return throw_errno(env, -r, "uv_poll_start");
  return obj;
}

static napi_value CloseMonitor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *d = NULL;
  if (argc < 1 || napi_unwrap(env, argv[0], &d) != napi_ok || !d) {
    napi_throw_type_error(env, NULL, "closeMonitor(monitor)");
    return NULL;
  }
  monitor_t *m = d;
  if (m->closing) return NULL;
  m->closing = 1;
  uv_poll_stop(&m->poll);
  napi_delete_reference(env, m->cb);
  m->cb = NULL;
  if (!m->in_cb) {
    napi_async_destroy(env, m->actx);
    m->actx = NULL;
  }
  uint32_t rc;
  napi_reference_unref(env, m->self, &rc);
  close(m->fd);
  m->fd = -1;
  uv_close((uv_handle_t *)&m->poll, on_monitor_closed);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Raw IP ports: one IP protocol over SOCK_RAW (GRE tunnels, src/netdev/rawip.ts)             */
/* ------------------------------------------------------------------------------------------ */

/*
 * A raw IPv4 socket for one protocol: the kernel gives it every packet of that protocol
 * addressed to the host (only those to the bound address when it is bound), whole and IP header
 * first, after reassembling fragments; what is written to it goes out behind an IP header the
 * kernel builds (no IP_HDRINCL), to the address each message names. So one socket serves every
 * tunnel port of a protocol and local address, and each packet of a transmit batch carries its
 * own destination.
 *
 * Receive records are those of the other kinds, each holding one whole IP packet (header
 * included). They are read with recvmmsg(2) into slots of max_frame bytes and then packed, so
 * small packets do not waste the buffer; one longer than a slot arrives cut, flagged
 * OFNET_F_TRUNCATED.
 *
 * POLLERR on a raw socket is a pending error, not a dead descriptor (the next read returns it
 * once): it reaches JavaScript as the callback's negative errno, and polling goes on. ICMP
 * answers to what was sent do not set one: Linux reports them only to connected raw sockets and
 * to those with IP_RECVERR, and this one is neither.
 */

/* How many datagrams one recvmmsg/sendmmsg call handles. */
#define RAW_CHUNK 32

/* Datagrams into the JavaScript buffer; *err gets -errno of a pending error read on the way. */
static unsigned raw_drain(port_t *p, int *err) {
  struct mmsghdr msgs[RAW_CHUNK];
  struct iovec iov[RAW_CHUNK];
  const size_t slot = REC_HDR + p->max_frame;
  unsigned n = 0;
  size_t off = 0;
  int errors = 0;
  while (n < p->budget) {
    unsigned k = 0;
    while (k < RAW_CHUNK && n + k < p->budget && off + (k + 1) * slot <= p->rxcap) {
      iov[k].iov_base = p->rxbuf + off + k * slot + REC_HDR;
      iov[k].iov_len = p->max_frame;
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      k++;
    }
    if (k == 0) break; /* the buffer is full: the rest waits for the next wake-up */
    int r = recvmmsg(p->fd, msgs, k, MSG_DONTWAIT, NULL);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      /* A pending socket error, cleared by this read: report it and read on. A descriptor that
       * keeps failing is not read forever. */
      *err = -errno;
      if (++errors >= 4) break;
      continue;
    }
    /* Pack: slot j moves down to where the previous record ended (never upwards). */
    const size_t base = off;
    for (int j = 0; j < r; j++) {
      uint8_t *from = p->rxbuf + base + (size_t)j * slot + REC_HDR;
      uint8_t *rec = p->rxbuf + off;
      uint32_t len = msgs[j].msg_len > p->max_frame ? p->max_frame : msgs[j].msg_len;
      uint16_t flags = (msgs[j].msg_hdr.msg_flags & MSG_TRUNC) ? OFNET_F_TRUNCATED : 0;
      if (from != rec + REC_HDR) memmove(rec + REC_HDR, from, len);
      memcpy(rec, &len, 4);
      memcpy(rec + 4, &flags, 2);
      memset(rec + 6, 0, 2);
      off += REC_HDR + len;
    }
    n += (unsigned)r;
    if ((unsigned)r < k) break; /* nothing more queued right now */
  }
  return n;
}

static void on_raw_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  port_t *p = h->data;
  if (p->closing || p->rxbuf == NULL) return;
  napi_env env = p->env;
  int err = 0;
  if (status < 0) {
    /* libuv turns POLLERR into UV_EBADF and stops the handle: take the pending error (reading
     * SO_ERROR clears it) and poll again. */
    p->polling = 0;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0) {
      err = soerr ? -soerr : 0;
      if (uv_poll_start(&p->poll, UV_READABLE, on_raw_readable) == 0) p->polling = 1;
    } else {
      err = status;
    }
  }
  unsigned n = p->polling || status >= 0 ? raw_drain(p, &err) : 0;
  if (n == 0 && err == 0) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value argv[2] = {num(env, n), num(env, err)};
  p->in_cb = 1;
  call_js(env, p->self, p->cb, p->actx, 2, argv);
  p->in_cb = 0;
  if (p->closing && p->actx) {
    napi_async_destroy(env, p->actx);
    p->actx = NULL;
  }
  napi_close_handle_scope(env, scope);
}

/* openRawIp(protocol, localAddr, maxFrame) -> port. protocol 1..254; localAddr an IPv4 address
 * as a number (host order), 0 for every address; maxFrame the largest packet read whole (576 to
 * 65535, default 65535). Throws Error{code}: EPERM without CAP_NET_RAW, EADDRNOTAVAIL when
 * localAddr is not the host's. */
static napi_value OpenRawIp(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t proto = 0, local = 0, max_frame = 65535;
  if (argc < 2 || get_u32(env, argv[0], &proto) != 0 || get_u32(env, argv[1], &local) != 0) {
    napi_throw_type_error(env, NULL, "openRawIp(protocol, localAddr[, maxFrame])");
    return NULL;
  }
  /* 0 is IPv6 hop-by-hop (no raw socket for it) and 255 is IPPROTO_RAW, which never receives. */
  if (proto == 0 || proto >= 255) {
    napi_throw_range_error(env, "EINVAL", "ofnet: a raw IP protocol is 1..254");
    return NULL;
  }
  if (argc > 2) get_u32(env, argv[2], &max_frame);
  if (max_frame < 576 || max_frame > 65535) max_frame = 65535;
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, (int)proto);
  if (fd < 0) return throw_errno(env, errno, "socket(AF_INET, SOCK_RAW)");
  if (local != 0) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(local);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
      int e = errno;
      close(fd);
      char what[64], addr[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &sin.sin_addr, addr, sizeof addr);
      snprintf(what, sizeof what, "bind %s", addr);
      return throw_errno(env, e, what);
    }
  }
  /* Room for bursts while JavaScript is busy: SO_RCVBUFFORCE passes rmem_max with
   * CAP_NET_ADMIN; otherwise the plain option, which the kernel caps. Best effort. */
  int rcv = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  port_t *p = port_alloc(fd, KIND_RAWIP);
  if (!p) {
    close(fd);
    return throw_errno(env, ENOMEM, "port");
  }
  p->max_frame = max_frame;
  napi_value obj = make_port(env, p);
  if (!obj) return NULL;
  napi_value v;
  napi_create_uint32(env, proto, &v);
  napi_set_named_property(env, obj, "protocol", v);
  napi_create_uint32(env, max_frame, &v);
  napi_set_named_property(env, obj, "maxFrame", v);
  return obj;
}

/* sendTo(port, buf, lens: Uint32Array, count, dsts: Uint32Array) -> packets sent. Packet i is
 * lens[i] bytes of buf (back to back, no IP header) and goes to dsts[i], an IPv4 address as a
 * number (host order). lens[i] is zeroed for each packet not sent. A packet the kernel refuses
 * for itself (no route to its destination, too long) is skipped; a full socket buffer stops the
 * batch. */
static napi_value SendTo(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  port_t *p = argc >= 5 ? unwrap_port(env, argv[0]) : NULL;
  if (!p) return NULL;
  void *data = NULL, *lens_data = NULL, *dst_data = NULL;
  size_t blen = 0, nlens = 0, ndsts = 0;
  napi_typedarray_type tl, td;
  uint32_t count = 0;
  if (p->kind != KIND_RAWIP || napi_get_buffer_info(env, argv[1], &data, &blen) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &tl, &nlens, &lens_data, NULL, NULL) != napi_ok ||
      tl != napi_uint32_array || get_u32(env, argv[3], &count) != 0 ||
      napi_get_typedarray_info(env, argv[4], &td, &ndsts, &dst_data, NULL, NULL) != napi_ok ||
      td != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "sendTo(raw IP port, buf, lens: Uint32Array, count, dsts: Uint32Array)");
    return NULL;
  }
  if (count > nlens) count = (uint32_t)nlens;
  if (count > ndsts) count = (uint32_t)ndsts;
  uint32_t *lens = lens_data;
  const uint32_t *dsts = dst_data;
  const uint8_t *base = data;
  uint32_t i = 0, sent = 0;
  size_t off = 0;
  struct mmsghdr msgs[RAW_CHUNK];
  struct iovec iov[RAW_CHUNK];
  struct sockaddr_in to[RAW_CHUNK];
  while (p->fd >= 0 && i < count) {
    unsigned k = 0;
    size_t o = off;
    while (k < RAW_CHUNK && i + k < count && o + lens[i + k] <= blen) {
      memset(&to[k], 0, sizeof to[k]);
      to[k].sin_family = AF_INET;
      to[k].sin_addr.s_addr = htonl(dsts[i + k]);
      iov[k].iov_base = (void *)(base + o);
      iov[k].iov_len = lens[i + k];
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_name = &to[k];
      msgs[k].msg_hdr.msg_namelen = sizeof to[k];
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      o += lens[i + k];
      k++;
    }
    if (k == 0) break; /* lengths run past the buffer: the rest is not sent */
    int r = sendmmsg(p->fd, msgs, k, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EBADF) break;
      /* This packet's own trouble (EMSGSIZE, ENETUNREACH, EHOSTUNREACH, EACCES for a broadcast
       * address, EPERM from a firewall): skip it, the next may go elsewhere. */
      off += lens[i];
      lens[i] = 0;
      i++;
      continue;
    }
    for (int j = 0; j < r; j++) off += lens[i + j];
    sent += (uint32_t)r;
    i += (uint32_t)r;
  }
  for (; i < count; i++) lens[i] = 0;
  return num(env, sent);
}

/* ------------------------------------------------------------------------------------------ */

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"openPacket", NULL, OpenPacket, NULL, NULL, NULL, napi_default, NULL},
      {"openTap", NULL, OpenTap, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, Start, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, Send, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"ringStats", NULL, RingStats, NULL, NULL, NULL, napi_default, NULL},
      {"ifInfo", NULL, IfInfo, NULL, NULL, NULL, napi_default, NULL},
      {"setIfUp", NULL, SetIfUp, NULL, NULL, NULL, napi_default, NULL},
      {"setIfMac", NULL, SetIfMac, NULL, NULL, NULL, napi_default, NULL},
      {"setIfMtu", NULL, SetIfMtu, NULL, NULL, NULL, napi_default, NULL},
      {"linkMonitor", NULL, LinkMonitor, NULL, NULL, NULL, napi_default, NULL},
      {"closeMonitor", NULL, CloseMonitor, NULL, NULL, NULL, napi_default, NULL},
      {"openRawIp", NULL, OpenRawIp, NULL, NULL, NULL, napi_default, NULL},
      {"sendTo", NULL, SendTo, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value v;
  napi_create_uint32(env, ABI_VERSION, &v);
  napi_set_named_property(env, exports, "abi", v);
  napi_create_uint32(env, REC_HDR, &v);
  napi_set_named_property(env, exports, "recordHeader", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
