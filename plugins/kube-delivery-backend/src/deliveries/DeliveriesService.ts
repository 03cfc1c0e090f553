import type { BackstageCredentials } from '@backstage/backend-plugin-api';
import { CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';
import {
  parseEntityRef,
  stringifyEntityRef,
  type Entity,
} from '@backstage/catalog-model';
import { InputError } from '@backstage/errors';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import { ANNOTATION_IMAGE } from '@internal/plugin-kube-delivery-common';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import type { DeliveryStore, DeploymentRecord } from '../database';
import type { DeliveryService } from '../delivery';
import { MAINLINE_TRACK } from '../manifests';
import type { KubeDeliveryAuthorizer } from '../permissions/authorize';

/** What a cell of the matrix says an environment runs of a service. */
export type DeliveryState =
  | 'not-deployed'
  | 'rolling-out'
  | 'waiting-approval'
  | 'healthy'
  | 'degraded'
  | 'failed'
  | 'unknown';

export interface DeliveryCell {
  environment: string;
  /** The version serving (the newest that succeeded). */
  version?: string;
  state: DeliveryState;
  /** Who deployed the serving version, and when it finished. */
  deployedBy?: string;
  deployedAt?: string;
  /** The version being deployed or waiting for approval. */
  pendingVersion?: string;
  /** Why the newest deployment failed, or what the rollout lacks. */
  message?: string;
  /** The version differs from the previous environment's in the lifecycle: what the next promotion changes. */
  differsFromPrevious: boolean;
}

export interface DeliveryRow {
  entityRef: string;
  title?: string;
  system?: string;
  owner?: string;
  lifecycle?: string;
  cells: DeliveryCell[];
}

export interface DeliveryMatrix {
  /** Lifecycle order. */
  environments: string[];
  items: DeliveryRow[];
  /** More services matched than `limit`. */
  truncated: boolean;
}

export interface MatrixQuery {
  system?: string;
  owner?: string;
  lifecycle?: string;
  limit: number;
}

const ENTITY_FIELDS = [
  'kind',
  'metadata.namespace',
  'metadata.name',
  'metadata.title',
  'spec.owner',
  'spec.system',
  'spec.lifecycle',
];

function fullRef(ref: string, defaultKind: string, what: string): string {
  try {
    return stringifyEntityRef(parseEntityRef(ref, { defaultKind }));
  } catch {
    throw new InputError(
      `${what} "${ref.slice(
        0,
        100,
      )}" is not an entity reference such as ${defaultKind}:default/boutique`,
    );
  }
}

/**
 * Every service × environment on one page (the Deliveries page, and the
 * tab of a System or Group): from the catalog (as the caller sees it), the
 * database (a few queries for all services) and the status cache. It never
 * asks the API servers: a cell whose live state the cache does not hold
 * says `unknown`.
 */
export class DeliveriesService {
  constructor(
    private readonly options: {
      catalog: CatalogService;
      store: DeliveryStore;
      delivery: DeliveryService;
      environments: EnvironmentRegistry;
      authorizer: KubeDeliveryAuthorizer;
    },
  ) {}

  async matrix(
    query: MatrixQuery,
    credentials: BackstageCredentials,
  ): Promise<DeliveryMatrix> {
    const filter: Record<string, string | symbol> = {
      kind: 'Component',
      [`metadata.annotations.${ANNOTATION_IMAGE}`]: CATALOG_FILTER_EXISTS,
    };
    if (query.system) {
      filter['relations.partOf'] = fullRef(query.system, 'system', 'system');
    }
    if (query.owner) {
      filter['relations.ownedBy'] = fullRef(query.owner, 'group', 'owner');
    }
    if (query.lifecycle) filter['spec.lifecycle'] = query.lifecycle;
    // The catalog answers as the caller sees it (its own read permission).
    const { items: entities } = await this.options.catalog.getEntities(
      {
        filter: filter as Record<string, string>,
        fields: ENTITY_FIELDS,
        order: [{ field: 'metadata.name', order: 'asc' }],
        limit: query.limit + 1,
      },
      { credentials },
    );
    const truncated = entities.length > query.limit;
    const listed = entities.slice(0, query.limit);
    const refs = listed.map(e => stringifyEntityRef(e));
    const readable = await this.options.authorizer.readableEntities(
      credentials,
      refs,
    );
    const shown = listed.filter((_, i) => readable.has(refs[i]));
    const shownRefs = shown.map(e => stringifyEntityRef(e));
    const latest = await this.options.store.latestByEnvironment(
      shownRefs,
      MAINLINE_TRACK,
    );
    const key = (d: DeploymentRecord) => `${d.entityRef}\n${d.environment}`;
    const succeeded = new Map(latest.succeeded.map(d => [key(d), d]));
    const finished = new Map(latest.finished.map(d => [key(d), d]));
    const active = new Map(
      latest.active
        .filter(d => d.track === MAINLINE_TRACK)
        .map(d => [key(d), d]),
    );
    const environments = this.options.environments.names();
    const items = await Promise.all(
      shown.map(async (entity, i) => {
        const entityRef = shownRefs[i];
        const cells: DeliveryCell[] = [];
        for (const environment of environments) {
          const at = `${entityRef}\n${environment}`;
          cells.push(
            await this.cell(
              environment,
              succeeded.get(at),
              finished.get(at),
              active.get(at),
            ),
          );
        }
        cells.forEach((cell, c) => {
          const previous = cells[c - 1];
          cell.differsFromPrevious =
            c > 0 && !!previous?.version && cell.version !== previous.version;
        });
        return { ...describe(entity), entityRef, cells };
      }),
    );
    return { environments, items, truncated };
  }

  private async cell(
    environment: string,
    current: DeploymentRecord | undefined,
    newest: DeploymentRecord | undefined,
    running: DeploymentRecord | undefined,
  ): Promise<DeliveryCell> {
    const cell: DeliveryCell = {
      environment,
      state: 'not-deployed',
      differsFromPrevious: false,
      ...(current && {
        version: current.version,
        deployedBy: current.createdBy,
        deployedAt: current.finishedAt,
      }),
    };
    if (running) {
      cell.pendingVersion = running.version;
      cell.state =
        running.status === 'waiting-approval'
          ? 'waiting-approval'
          : 'rolling-out';
      return cell;
    }
    // Rejected or expired approvals changed nothing in the cluster.
    if (newest?.status === 'failed' || newest?.status === 'rolled-back') {
      cell.state = 'failed';
      cell.message = `${newest.version}: ${newest.message ?? newest.status}`;
      return cell;
    }
    if (!current) return cell;
    const rollout = await this.options.delivery.cachedRollout(current);
    if (!rollout) {
      cell.state = 'unknown';
    } else if (rollout.complete && rollout.ready >= rollout.desired) {
      cell.state = 'healthy';
    } else {
      cell.state = 'degraded';
      cell.message = rollout.message;
    }
    return cell;
  }
}

function describe(entity: Entity) {
  const spec = (entity.spec ?? {}) as Record<string, unknown>;
  const text = (value: unknown) =>
    typeof value === 'string' ? value : undefined;
  return {
    title: entity.metadata.title,
    system: text(spec.system),
    owner: text(spec.owner),
    lifecycle: text(spec.lifecycle),
  };
}
