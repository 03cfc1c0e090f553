import { ClusterUnreachableError } from './errors';

/** Since when an environment's cluster has not answered, and the last reason. */
export interface Unreachable {
  /** ISO time of the first failed read of this outage. */
  since: string;
  message: string;
}

/**
 * Remembers which environments' clusters do not answer, so that reads for
 * the tabs fail fast instead of waiting out a timeout per request: while an
 * outage lasts, the cluster is tried again at most every `retryAfterMs`, and
 * other reads answer at once with the outage.
 */
export class ClusterReachability {
  private readonly outages = new Map<
    string,
    Unreachable & { lastTriedAt: number }
  >();

  constructor(private readonly retryAfterMs = 10_000) {}

  /** Runs a read of the environment's cluster, unless it is known unreachable and was tried lately. */
  async read<T>(environment: string, fn: () => Promise<T>): Promise<T> {
    const outage = this.outages.get(environment);
    if (outage && Date.now() - outage.lastTriedAt < this.retryAfterMs) {
      throw new ClusterUnreachableError(outage.message);
    }
    try {
      const result = await fn();
      this.outages.delete(environment);
      return result;
    } catch (error) {
      if (error instanceof ClusterUnreachableError) {
        this.outages.set(environment, {
          since: outage?.since ?? new Date().toISOString(),
          message: error.message,
          lastTriedAt: Date.now(),
        });
      }
      throw error;
    }
  }

  /** The cluster answered another way (its watches listed again): the outage is over. */
  answered(environment: string) {
    this.outages.delete(environment);
  }

  /** The current outage of the environment's cluster, if any. */
  unreachable(environment: string): Unreachable | undefined {
    const outage = this.outages.get(environment);
    return outage && { since: outage.since, message: outage.message };
  }
}
