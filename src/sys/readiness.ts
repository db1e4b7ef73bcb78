// Readiness of descriptors libuv cannot watch: an eventfd or a pidfd is an anonymous inode,
// which net.Socket refuses and fs.read would wait for on one of libuv's four pool threads
// (every later fs call would queue behind it). One worker thread, started at the first
// registration, blocks in epoll_wait(2) for all of them and tells this thread which fd became
// readable. It is unref'd: it keeps no process alive; and since a thread blocked in a system
// call cannot be terminated, an eventfd of its own wakes it at exit (else exit would hang).
import { Worker } from 'node:worker_threads';
import { check, fn, koffiPath } from './libc.js';
import { O_CLOEXEC, O_NONBLOCK } from './io.js';

const EPOLLIN = 0x1;
const EPOLLONESHOT = 1 << 30;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
/** struct epoll_event: u32 events, u64 data; packed on x86-64 only. */
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const DATA_AT = process.arch === 'x64' ? 4 : 8;

/** The worker: CommonJS for eval, so that it loads without the caller's TypeScript or bundle. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const libc = require(workerData.koffi).load('libc.so.6');
const epollWait = libc.func('int epoll_wait(int epfd, _Out_ uint8_t *events, int maxevents, int timeout)');
const events = Buffer.alloc(${EVENT_SIZE} * 64);
for (;;) {
  const n = epollWait(workerData.epfd, events, 64, -1);
  if (n < 0) continue; // EINTR
  const fds = [];
  for (let k = 0; k < n; k++) fds.push(events.readInt32LE(${EVENT_SIZE} * k + ${DATA_AT}));
  if (fds.includes(workerData.wake)) break;
  parentPort.postMessage(fds);
}
`;

/** An eventfd(2), close-on-exec and non-blocking, with a count of 0. */
export function eventfd(): number {
  return check('eventfd', '0, EFD_CLOEXEC|EFD_NONBLOCK', () => fn('int eventfd(unsigned int initval, int flags)')(0, O_CLOEXEC | O_NONBLOCK), 'plumbing');
}

/** Read and reset an eventfd's count (0 when nothing was signalled: it is non-blocking). */
export function drainEventfd(fd: number): void {
  fn('long read(int fd, _Out_ uint8_t *buf, size_t count)')(fd, Buffer.alloc(8), 8);
}

function control(epfd: number, op: number, fd: number, events: number): void {
  const ev = Buffer.alloc(EVENT_SIZE);
  ev.writeUInt32LE(events, 0);
  ev.writeInt32LE(fd, DATA_AT);
  check('epoll_ctl', `${epfd}, ${op}, ${fd}, {${events}}`, () => fn('int epoll_ctl(int epfd, int op, int fd, uint8_t *event)')(epfd, op, fd, ev), 'plumbing');
}

let epfd: number | undefined;
const handlers = new Map<number, () => void>();

function start(): number {
  const ep = check('epoll_create1', 'EPOLL_CLOEXEC', () => fn('int epoll_create1(int flags)')(O_CLOEXEC), 'plumbing');
  const wake = eventfd();
  control(ep, EPOLL_CTL_ADD, wake, EPOLLIN);
  const worker = new Worker(WORKER, { eval: true, workerData: { epfd: ep, wake, koffi: koffiPath() } });
  worker.on('message', (fds: number[]) => {
    for (const fd of fds) {
      const handler = handlers.get(fd);
      if (!handler) continue;
      try {
        handler();
      } finally {
        // One-shot: armed again once the handler has drained it, so the worker does not spin.
        if (handlers.get(fd) === handler) control(ep, EPOLL_CTL_MOD, fd, EPOLLIN | EPOLLONESHOT);
      }
    }
  });
  worker.unref();
  process.once('exit', () => fn('long write(int fd, const uint8_t *buf, size_t count)')(wake, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), 8));
  return ep;
}

/**
 * Call `handler` each time `fd` becomes readable; it must make it unreadable again (read
 * the eventfd). Returns what stops it; closing `fd` is the caller's, after that.
 */
export function onReadable(fd: number, handler: () => void): () => void {
  epfd ??= start();
  const ep = epfd;
  handlers.set(fd, handler);
  control(ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLONESHOT);
  return () => {
    if (handlers.get(fd) !== handler) return;
    handlers.delete(fd);
    control(ep, EPOLL_CTL_DEL, fd, 0);
  };
}
