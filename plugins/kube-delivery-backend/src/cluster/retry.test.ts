import { ConflictError, InputError } from '@backstage/errors';
import { ApiException } from '@kubernetes/client-node';
import {
  ClusterUnreachableError,
  isTransientError,
  RequestTimeoutError,
  toClusterError,
} from './errors';
import { backoffDelay, withRetry } from './retry';

const env = {
  name: 'dev',
  namespace: 'dev',
  server: 'https://k8s.example:6443',
};
const apiError = (
  code: number,
  message = 'boom',
  headers: Record<string, string> = {},
) =>
  new ApiException(code, message, { kind: 'Status', message, code }, headers);
const refused = () =>
  Object.assign(
    new Error(
      'request to https://k8s.example:6443/api/v1 failed, reason: connect ECONNREFUSED 127.0.0.1:6443',
    ),
    {
      name: 'FetchError',
      type: 'system',
      code: 'ECONNREFUSED',
    },
  );

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with jitter in the upper half', () => {
    expect(backoffDelay(1, 100, 1000, () => 0)).toBe(50);
    expect(backoffDelay(1, 100, 1000, () => 1)).toBe(100);
    expect(backoffDelay(3, 100, 1000, () => 1)).toBe(400);
    expect(backoffDelay(10, 100, 1000, () => 1)).toBe(1000);
    expect(backoffDelay(10, 100, 1000, () => 0)).toBe(500);
  });
});

describe('withRetry', () => {
  it('retries transient errors and returns the first success', async () => {
    const fn = jest
      .fn()
      .mockRejectedValueOnce(refused())
      .mockRejectedValueOnce(apiError(503))
      .mockResolvedValueOnce('ok');
    const onRetry = jest.fn();
    await expect(withRetry(fn, { baseDelayMs: 1, onRetry })).resolves.toBe(
      'ok',
    );
    expect(fn).toHaveBeenCalledTimes(3);
    expect(onRetry).toHaveBeenCalledTimes(2);
  });

  it('gives up after the attempts and throws the last error', async () => {
    const fn = jest.fn().mockRejectedValue(apiError(500));
    await expect(
      withRetry(fn, { attempts: 3, baseDelayMs: 1 }),
    ).rejects.toMatchObject({ code: 500 });
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it.each([409, 400, 403, 404, 422])('does not retry %s', async code => {
    const fn = jest.fn().mockRejectedValue(apiError(code));
    await expect(withRetry(fn, { baseDelayMs: 1 })).rejects.toMatchObject({
      code,
    });
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('honours Retry-After', async () => {
    const fn = jest
      .fn()
      .mockRejectedValueOnce(apiError(429, 'slow down', { 'retry-after': '1' }))
      .mockResolvedValue('ok');
    const onRetry = jest.fn();
    await withRetry(fn, { baseDelayMs: 1, onRetry });
    expect(onRetry.mock.calls[0][2]).toBe(1000);
  });

  it('stops at the deadline and when aborted', async () => {
    const fn = jest.fn().mockRejectedValue(refused());
    const started = Date.now();
    await expect(
      withRetry(fn, {
        attempts: Infinity,
        baseDelayMs: 50,
        deadline: Date.now() + 300,
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(Date.now() - started).toBeLessThan(1000);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expect(
      withRetry(fn, {
        attempts: Infinity,
        baseDelayMs: 1000,
        signal: controller.signal,
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('errors', () => {
  it('classifies transient errors', () => {
    expect(isTransientError(refused())).toBe(true);
    expect(isTransientError(new RequestTimeoutError('GET', '/x', 10))).toBe(
      true,
    );
    expect(isTransientError(apiError(429))).toBe(true);
    expect(isTransientError(apiError(504))).toBe(true);
    expect(isTransientError(apiError(409))).toBe(false);
    expect(isTransientError(new Error('x'))).toBe(false);
    expect(
      isTransientError(
        Object.assign(new Error('cert'), {
          name: 'FetchError',
          type: 'system',
          code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
        }),
      ),
    ).toBe(false);
  });

  it('treats the SSA "typed patch object" 500 as a client error', () => {
    const error = apiError(
      500,
      'failed to create typed patch object (dev/x; apps/v1, Kind=Deployment): .spec.replicass: field not declared in schema',
    );
    expect(isTransientError(error)).toBe(false);
    const mapped = toClusterError(error, env, {
      verb: 'patch',
      kind: 'Deployment',
      name: 'x',
      dryRun: true,
    });
    expect(mapped).toBeInstanceOf(InputError);
    expect(mapped.message).toBe(
      'Deployment "x" was rejected by the Kubernetes API server of environment "dev" (namespace "dev") in a dry run: failed to create typed patch object (dev/x; apps/v1, Kind=Deployment): .spec.replicass: field not declared in schema',
    );
  });

  it('maps 409 to ConflictError and network errors to ClusterUnreachableError (a 5xx)', () => {
    expect(
      toClusterError(apiError(409), env, {
        verb: 'patch',
        kind: 'ConfigMap',
        name: 'c',
      }),
    ).toBeInstanceOf(ConflictError);
    const unreachable = toClusterError(refused(), env, {
      verb: 'get',
      kind: 'Deployment',
      name: 'web',
    });
    expect(unreachable.constructor).toBe(ClusterUnreachableError);
    expect(unreachable.message).toBe(
      'Cannot reach the Kubernetes API server of environment "dev" (namespace "dev") at https://k8s.example:6443 while trying to get Deployment "web": connect ECONNREFUSED 127.0.0.1:6443',
    );
  });
});
