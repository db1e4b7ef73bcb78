const t0 = performance.now();
process.on('exit', () => console.error('exit at', (performance.now() - t0).toFixed(1), 'since process start', performance.now().toFixed(1)));
await import('../dist/bin/unshare.js');
