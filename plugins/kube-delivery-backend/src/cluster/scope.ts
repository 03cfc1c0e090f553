import type { LoggerService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  apiVersionPath,
  KubeConnection,
  type Batch,
  type ClusterTarget,
  type ConnectionOptions,
} from './connection';
import { toClusterError, type EnvironmentRef, type Operation } from './errors';

export const enc = encodeURIComponent;

/** The HTTP status of a failed request, if it had one. */
export function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * What the apply, wait and access parts of an environment's cluster client
 * share: the connection, the one namespace every request is confined to,
 * request batches whose errors become caller errors, and the paths of the
 * kinds the API server serves there.
 */
export class NamespaceScope {
  readonly name: string;
  readonly namespace: string;
  readonly connection: KubeConnection;
  readonly ref: EnvironmentRef;

  constructor(
    target: ClusterTarget,
    readonly logger: LoggerService,
    options: ConnectionOptions,
  ) {
    if (!target.name || !target.namespace) {
      throw new Error('An environment needs a name and a namespace');
    }
    this.name = target.name;
    this.namespace = target.namespace;
    this.connection = new KubeConnection(target, logger, options);
    this.ref = {
      name: target.name,
      namespace: target.namespace,
      server: this.connection.server,
    };
  }

  /** One request batch (one token-file read); errors become caller errors. */
  async run<T>(op: Operation, fn: (b: Batch) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.connection.batch());
    } catch (error) {
      throw toClusterError(error, this.ref, op);
    }
  }

  /** The path of an object we may write: namespaced, in our namespace, of a served kind. */
  async writablePath(b: Batch, object: KubernetesObject): Promise<string> {
    const { apiVersion, kind } = object;
    const name = object.metadata?.name;
    if (!apiVersion || !kind || !name) {
      throw new InputError(
        `Every object needs apiVersion, kind and metadata.name (got ${
          apiVersion ?? '?'
        } ${kind ?? '?'} "${name ?? ''}")`,
      );
    }
    if (object.metadata?.generateName && !object.metadata.name) {
      throw new InputError(
        `${kind}: server-side apply needs metadata.name, not generateName`,
      );
    }
    const namespace = object.metadata?.namespace;
    if (namespace && namespace !== this.namespace) {
      throw new InputError(
        `${kind} "${name}" names namespace "${namespace}", but environment "${this.name}" is confined to namespace "${this.namespace}"`,
      );
    }
    return this.path(b, apiVersion, kind, name);
  }

  /** The path of a namespaced object (or collection) in our namespace; throws for kinds not served or cluster-scoped. */
  async path(
    b: Batch,
    apiVersion: string,
    kind: string,
    name?: string,
  ): Promise<string> {
    const path = await this.pathIfServed(b, apiVersion, kind, name);
    if (!path) {
      throw new InputError(
        `The Kubernetes API server of environment "${this.name}" does not serve ${kind} in ${apiVersion} (is its CRD installed?)`,
      );
    }
    return path;
  }

  async pathIfServed(
    b: Batch,
    apiVersion: string,
    kind: string,
    name?: string,
  ): Promise<string | undefined> {
    const info = await b.resourceFor(apiVersion, kind);
    if (!info) return undefined;
    if (!info.namespaced) {
      throw new InputError(
        `${kind} is cluster-scoped; environment "${this.name}" is confined to namespace "${this.namespace}"`,
      );
    }
    return `${apiVersionPath(apiVersion)}/namespaces/${enc(this.namespace)}/${
      info.resource
    }${name === undefined ? '' : `/${enc(name)}`}`;
  }
}
