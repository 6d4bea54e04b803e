/**
 * Preloaded into nodemon (`node --import`): if the `dev` process that started it dies without
 * cleaning up (SIGKILL, a crash), nodemon is re-parented. Then stop nodemon's whole process group,
 * server included, the way `dev` would have: SIGTERM, so the server still drains.
 */
const parent = process.ppid;
const watchdog = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(watchdog);
  try {
    process.kill(-process.pid, 'SIGTERM');
  } catch {
    process.exit(1);
  }
}, 250);
watchdog.unref();
