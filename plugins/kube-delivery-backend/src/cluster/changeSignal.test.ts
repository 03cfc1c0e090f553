import { ChangeSignal } from './changeSignal';

describe('ChangeSignal', () => {
  it('returns from sleep at once for a change that came while nobody slept', async () => {
    const changes = new ChangeSignal();
    changes.notify();
    // Longer than the test's timeout: only the kept change ends it in time.
    await expect(changes.sleep(60_000)).resolves.toBeUndefined();
  });

  it('is woken by a change during the sleep, and only once per change', async () => {
    const changes = new ChangeSignal();
    const first = changes.sleep(60_000);
    changes.notify();
    await first;
    let second = false;
    const sleeping = changes.sleep(50).then(() => {
      second = true;
    });
    await new Promise(resolve => setTimeout(resolve, 10));
    expect(second).toBe(false);
    await sleeping;
    expect(second).toBe(true);
  });

  it('rejects when the caller aborts', async () => {
    const changes = new ChangeSignal();
    const abort = new AbortController();
    const sleeping = changes.sleep(60_000, abort.signal);
    abort.abort(new Error('stopped'));
    await expect(sleeping).rejects.toThrow('stopped');
  });
});
