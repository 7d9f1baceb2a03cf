/*
 * A socket reader that keeps draining a UDP socket while Python is busy.
 *
 * Why: a receiver pauses once a tick (state drain, delta encode: tens of milliseconds on a large
 * fabric). At tens of thousands of datagrams a second the kernel's socket buffer fills during
 * such a pause and the kernel drops. Here a plain C thread, which never touches a Python object
 * and so never needs the GIL, reads the socket with recvmmsg(2) into a single-producer /
 * single-consumer byte ring; the receive loop takes datagrams out of the ring between its pauses.
 *
 * The ring: `capacity` bytes, entries of a 4-byte length and the datagram, each padded to 8
 * bytes; an entry that would not fit before the end is preceded by a wrap marker and starts
 * again at offset 0. `head` (bytes ever written) is stored only by the reader thread, `tail`
 * (bytes ever consumed) only by the consumer; both publish with release and read with acquire.
 * When the ring is full the reader waits (and counts it): the kernel buffer then holds what
 * arrives, and what it drops is still the socket's drop count, so nothing is lost uncounted.
 *
 * Wake-ups: the consumer calls ready(); with nothing pending it raises `waiting` and may sleep
 * in select() on fileno() (an eventfd). The reader, after publishing a batch, writes the eventfd
 * only if `waiting` is raised, so a busy consumer costs no system call. Both sides use
 * sequentially consistent operations on `waiting` and `head`, so either the consumer sees the
 * new head or the reader sees `waiting` (no lost wake-up).
 *
 * Linux only (recvmmsg, eventfd); setup.py builds it as an optional extension and
 * collector/receive/socket_ring.py falls back to the plain receive loop without it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DATAGRAM 65535u /* the largest UDP payload, so nothing is truncated */
#define BATCH 32            /* datagrams per recvmmsg call */
#define HEADER 4u           /* the length word before each entry */
#define WRAP_MARKER 0xFFFFFFFFu
#define ENTRY_ALIGN 8u
#define FULL_WAIT_NS 100000L /* how long the reader sleeps when the ring is full */
/* After a partial batch the reader naps this long before reading again instead of waiting in
 * poll() for the next datagram: under load it then takes many datagrams per system call and
 * wakes about a thousand times a second, not once per datagram; the socket buffer holds what
 * arrives meanwhile (at 200,000 datagrams/s, 200 of them). An idle socket still blocks in
 * poll(), so an idle collector costs nothing. */
#define READ_PAUSE_NS 1000000L
/* The smallest ring holds two of the largest entries, so any datagram always fits. */
#define MIN_CAPACITY (2u * ((HEADER + MAX_DATAGRAM + ENTRY_ALIGN - 1u) & ~(ENTRY_ALIGN - 1u)))

typedef struct {
    PyObject_HEAD
    int sock_fd;
    int event_fd; /* written by the reader when the consumer sleeps */
    int stop_fd;  /* wakes the reader's poll() on close */
    uint8_t *ring;
    uint64_t capacity;
    uint8_t *scratch;
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    pthread_t thread;
    int started;
    _Atomic uint64_t head;
    _Atomic uint64_t tail;
    _Atomic int waiting;
    _Atomic int stopping;
    _Atomic int error; /* the errno that ended the reader; 0 while it runs */
    _Atomic uint64_t datagrams;
    _Atomic uint64_t full_waits;
    _Atomic uint64_t receive_errors;
    _Atomic uint64_t high_water;
} SocketRing;

static inline uint64_t entry_size(uint32_t length) {
    return ((uint64_t)HEADER + length + ENTRY_ALIGN - 1u) & ~(uint64_t)(ENTRY_ALIGN - 1u);
}

static void signal_fd(int fd) {
    uint64_t one = 1;
    ssize_t written;
    do {
        written = write(fd, &one, sizeof one);
    } while (written < 0 && errno == EINTR);
    /* EAGAIN: the counter is saturated, so the consumer is already woken. */
}

static void wake_consumer(SocketRing *self) {
    if (atomic_load(&self->waiting) && atomic_exchange(&self->waiting, 0)) {
        signal_fd(self->event_fd);
    }
}

/* Copy one datagram into the ring, waiting while it is full; -1 when closing. */
static int push(SocketRing *self, const uint8_t *data, uint32_t length) {
    const uint64_t capacity = self->capacity;
    const uint64_t need = entry_size(length);
    uint64_t head = atomic_load_explicit(&self->head, memory_order_relaxed);
    uint64_t offset = head % capacity;
    const uint64_t skip = capacity - offset < need ? capacity - offset : 0;
    uint64_t tail = atomic_load_explicit(&self->tail, memory_order_acquire);
    int counted = 0;
    while (capacity - (head - tail) < skip + need) {
        if (atomic_load(&self->stopping)) {
            return -1;
        }
        if (!counted) {
            atomic_fetch_add_explicit(&self->full_waits, 1, memory_order_relaxed);
            counted = 1;
        }
        wake_consumer(self); /* what is there must be taken for space to come back */
        struct timespec pause = {0, FULL_WAIT_NS};
        nanosleep(&pause, NULL);
        tail = atomic_load_explicit(&self->tail, memory_order_acquire);
    }
    if (skip) { /* entries are 8-aligned, so at least 8 bytes remain: room for the marker */
        uint32_t marker = WRAP_MARKER;
        memcpy(self->ring + offset, &marker, HEADER);
        offset = 0;
    }
    memcpy(self->ring + offset, &length, HEADER);
    memcpy(self->ring + offset + HEADER, data, length);
    head += skip + need;
    atomic_store(&self->head, head);
    uint64_t used = head - tail;
    if (used > atomic_load_explicit(&self->high_water, memory_order_relaxed)) {
        atomic_store_explicit(&self->high_water, used, memory_order_relaxed);
    }
    return 0;
}

static int fatal_errno(int err) {
    return err == EBADF || err == ENOTSOCK || err == EINVAL || err == EFAULT;
}

static void *reader_main(void *arg) {
    SocketRing *self = (SocketRing *)arg;
    struct pollfd fds[2] = {{self->sock_fd, POLLIN, 0}, {self->stop_fd, POLLIN, 0}};
    while (!atomic_load(&self->stopping)) {
        for (int i = 0; i < BATCH; i++) {
            self->iov[i].iov_base = self->scratch + (size_t)i * MAX_DATAGRAM;
            self->iov[i].iov_len = MAX_DATAGRAM;
            memset(&self->msgs[i].msg_hdr, 0, sizeof self->msgs[i].msg_hdr);
            self->msgs[i].msg_hdr.msg_iov = &self->iov[i];
            self->msgs[i].msg_hdr.msg_iovlen = 1;
            self->msgs[i].msg_len = 0;
        }
        int got = recvmmsg(self->sock_fd, self->msgs, BATCH, MSG_DONTWAIT, NULL);
        if (got < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) {
                if (poll(fds, 2, -1) < 0 && errno != EINTR) {
                    atomic_store(&self->error, errno);
                    break;
                }
                continue;
            }
            if (fatal_errno(err)) {
                atomic_store(&self->error, err);
                break;
            }
            /* e.g. an ICMP error queued on the socket: counted, and reading goes on */
            atomic_fetch_add_explicit(&self->receive_errors, 1, memory_order_relaxed);
            continue;
        }
        for (int i = 0; i < got; i++) {
            if (push(self, self->scratch + (size_t)i * MAX_DATAGRAM, self->msgs[i].msg_len) < 0) {
                break;
            }
        }
        atomic_fetch_add_explicit(&self->datagrams, (uint64_t)got, memory_order_relaxed);
        wake_consumer(self);
        if (got < BATCH) {
            struct timespec pause = {0, READ_PAUSE_NS};
            nanosleep(&pause, NULL);
        }
    }
    /* The consumer may be asleep waiting for data that will never come: wake it for the end. */
    atomic_store(&self->waiting, 0);
    signal_fd(self->event_fd);
    return NULL;
}

static void stop_reader(SocketRing *self) {
    if (self->started) {
        atomic_store(&self->stopping, 1);
        signal_fd(self->stop_fd);
        Py_BEGIN_ALLOW_THREADS
        pthread_join(self->thread, NULL);
        Py_END_ALLOW_THREADS
        self->started = 0;
    }
}

static void ring_release(SocketRing *self) {
    stop_reader(self);
    if (self->event_fd >= 0) {
        close(self->event_fd);
        self->event_fd = -1;
    }
    if (self->stop_fd >= 0) {
        close(self->stop_fd);
        self->stop_fd = -1;
    }
    PyMem_RawFree(self->ring);
    self->ring = NULL;
    PyMem_RawFree(self->scratch);
    self->scratch = NULL;
}

static PyObject *SocketRing_new(PyTypeObject *type, PyObject *Py_UNUSED(args),
                                PyObject *Py_UNUSED(kwds)) {
    SocketRing *self = (SocketRing *)type->tp_alloc(type, 0);
    if (self != NULL) { /* no descriptor yet: 0 would be standard input */
        self->sock_fd = -1;
        self->event_fd = -1;
        self->stop_fd = -1;
    }
    return (PyObject *)self;
}

static int SocketRing_init(SocketRing *self, PyObject *args, PyObject *kwds) {
    static char *keywords[] = {"fd", "capacity", NULL};
    int fd;
    unsigned long long capacity;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iK", keywords, &fd, &capacity)) {
        return -1;
    }
    if (self->ring != NULL || self->started) {
        PyErr_SetString(PyExc_RuntimeError, "SocketRing is already initialised");
        return -1;
    }
    if (capacity < MIN_CAPACITY) {
        PyErr_Format(PyExc_ValueError, "capacity must be at least %u bytes", MIN_CAPACITY);
        return -1;
    }
    self->sock_fd = fd;
    self->capacity = capacity & ~(uint64_t)(ENTRY_ALIGN - 1u);
    self->ring = PyMem_RawMalloc((size_t)self->capacity);
    self->scratch = PyMem_RawMalloc((size_t)BATCH * MAX_DATAGRAM);
    if (self->ring == NULL || self->scratch == NULL) {
        ring_release(self);
        PyErr_NoMemory();
        return -1;
    }
    self->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->event_fd < 0 || self->stop_fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        ring_release(self);
        return -1;
    }
    int rc = pthread_create(&self->thread, NULL, reader_main, self);
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        ring_release(self);
        return -1;
    }
    self->started = 1;
    return 0;
}

static void SocketRing_dealloc(SocketRing *self) {
    ring_release(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_open(SocketRing *self) {
    if (self->ring == NULL) {
        PyErr_SetString(PyExc_ValueError, "the SocketRing is closed");
        return -1;
    }
    return 0;
}

static PyObject *SocketRing_next_into(SocketRing *self, PyObject *target) {
    if (check_open(self) < 0) {
        return NULL;
    }
    uint64_t tail = atomic_load_explicit(&self->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&self->head, memory_order_acquire);
    if (tail == head) {
        return PyLong_FromLong(-1);
    }
    Py_buffer view;
    if (PyObject_GetBuffer(target, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        return NULL;
    }
    uint64_t offset = tail % self->capacity;
    uint32_t length;
    memcpy(&length, self->ring + offset, HEADER);
    if (length == WRAP_MARKER) {
        tail += self->capacity - offset;
        offset = 0;
        memcpy(&length, self->ring, HEADER);
    }
    if ((Py_ssize_t)length > view.len) {
        PyBuffer_Release(&view);
        PyErr_Format(PyExc_ValueError, "buffer of %zd bytes is smaller than a datagram of %u",
                     view.len, length);
        return NULL;
    }
    memcpy(view.buf, self->ring + offset + HEADER, length);
    PyBuffer_Release(&view);
    atomic_store_explicit(&self->tail, tail + entry_size(length), memory_order_release);
    return PyLong_FromUnsignedLong(length);
}

static PyObject *SocketRing_ready(SocketRing *self, PyObject *Py_UNUSED(ignored)) {
    if (atomic_load(&self->head) != atomic_load_explicit(&self->tail, memory_order_relaxed)) {
        Py_RETURN_TRUE;
    }
    atomic_store(&self->waiting, 1);
    if (atomic_load(&self->head) != atomic_load_explicit(&self->tail, memory_order_relaxed)) {
        atomic_store(&self->waiting, 0);
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyObject *SocketRing_acknowledge(SocketRing *self, PyObject *Py_UNUSED(ignored)) {
    uint64_t value;
    atomic_store(&self->waiting, 0);
    if (self->event_fd >= 0 && read(self->event_fd, &value, sizeof value) < 0 && errno != EAGAIN) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *SocketRing_fileno(SocketRing *self, PyObject *Py_UNUSED(ignored)) {
    if (check_open(self) < 0) {
        return NULL;
    }
    return PyLong_FromLong(self->event_fd);
}

static PyObject *SocketRing_pending_bytes(SocketRing *self, PyObject *Py_UNUSED(ignored)) {
    uint64_t head = atomic_load(&self->head);
    uint64_t tail = atomic_load(&self->tail);
    return PyLong_FromUnsignedLongLong(head - tail);
}

static PyObject *SocketRing_error(SocketRing *self, PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromLong(atomic_load(&self->error));
}

static PyObject *SocketRing_stats(SocketRing *self, PyObject *Py_UNUSED(ignored)) {
    uint64_t used = atomic_load(&self->head) - atomic_load(&self->tail);
    uint64_t peak = atomic_exchange(&self->high_water, used);
    return Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:i}", "datagrams",
        (unsigned long long)atomic_load(&self->datagrams), "full_waits",
        (unsigned long long)atomic_load(&self->full_waits), "receive_errors",
        (unsigned long long)atomic_load(&self->receive_errors), "peak_bytes",
        (unsigned long long)(peak > used ? peak : used), "capacity",
        (unsigned long long)self->capacity, "error", atomic_load(&self->error));
}

static PyObject *SocketRing_stop(SocketRing *self, PyObject *Py_UNUSED(ignored)) {
    stop_reader(self);
    Py_RETURN_NONE;
}

static PyObject *SocketRing_close(SocketRing *self, PyObject *Py_UNUSED(ignored)) {
    ring_release(self);
    Py_RETURN_NONE;
}

static PyMethodDef SocketRing_methods[] = {
    {"next_into", (PyCFunction)SocketRing_next_into, METH_O,
     "Copy the oldest datagram into a writable buffer and return its length; -1 when empty."},
    {"ready", (PyCFunction)SocketRing_ready, METH_NOARGS,
     "True when datagrams are pending; False means: sleep on fileno() until signalled."},
    {"acknowledge", (PyCFunction)SocketRing_acknowledge, METH_NOARGS,
     "Clear the wake-up signal after fileno() became readable."},
    {"fileno", (PyCFunction)SocketRing_fileno, METH_NOARGS,
     "The eventfd that becomes readable when datagrams arrive for a sleeping consumer."},
    {"pending_bytes", (PyCFunction)SocketRing_pending_bytes, METH_NOARGS,
     "Bytes held in the ring (entries and padding)."},
    {"error", (PyCFunction)SocketRing_error, METH_NOARGS,
     "The errno that ended the reader thread, 0 while it runs."},
    {"stats", (PyCFunction)SocketRing_stats, METH_NOARGS,
     "Totals of the reader and the peak fill since the last call, as a dict."},
    {"stop", (PyCFunction)SocketRing_stop, METH_NOARGS,
     "Stop the reader thread; what the ring holds can still be taken (idempotent)."},
    {"close", (PyCFunction)SocketRing_close, METH_NOARGS,
     "Stop the reader thread and free the ring (idempotent)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SocketRingType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "collector.receive._socket_ring.SocketRing",
    .tp_basicsize = sizeof(SocketRing),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SocketRing(fd, capacity): a C thread reading a UDP socket into a byte ring.",
    .tp_new = SocketRing_new,
    .tp_init = (initproc)SocketRing_init,
    .tp_dealloc = (destructor)SocketRing_dealloc,
    .tp_methods = SocketRing_methods,
};

static struct PyModuleDef socket_ring_module = {
    PyModuleDef_HEAD_INIT, "collector.receive._socket_ring",
    "A C socket reader (recvmmsg in its own thread) feeding a single-consumer byte ring.", -1,
    NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__socket_ring(void) {
    if (PyType_Ready(&SocketRingType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&socket_ring_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&SocketRingType);
    if (PyModule_AddObject(module, "SocketRing", (PyObject *)&SocketRingType) < 0 ||
        PyModule_AddIntConstant(module, "MIN_CAPACITY", MIN_CAPACITY) < 0 ||
        PyModule_AddIntConstant(module, "MAX_DATAGRAM", MAX_DATAGRAM) < 0) {
        Py_DECREF(&SocketRingType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
