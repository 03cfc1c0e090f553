import type {
  AuthService,
  BackstageCredentials,
} from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import { createPermissionResourceRef } from '@backstage/plugin-permission-node';
import {
  parseTargetRef,
  RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
} from '@internal/plugin-kube-delivery-common';

/** What the target rules need to know of an environment. */
export interface TargetEnvironment {
  name: string;
  protected: boolean;
}

/**
 * What is acted on in an environment: an entity's service there, or (for
 * certificates and claims) the environment alone.
 */
export interface KubeDeliveryTarget {
  environment: TargetEnvironment;
  /** Absent for environment-wide actions. */
  entityRef?: string;
  /** The entity as the catalog has it; absent for environment-wide actions, or when the catalog has none. */
  entity?: Entity;
}

/**
 * A rule as a filter (`toQuery`): the target's property and the values one
 * of which it must have. {@link matchesTargetFilter} evaluates it.
 */
export type TargetFilter =
  | { property: 'environment'; values: string[] }
  | { property: 'protected'; values: [true] }
  | { property: 'owner'; values: string[] }
  | { property: 'lifecycle'; values: string[] }
  | { property: 'kind'; values: string[] };

/** The `kube-delivery-target` resource type, owned by this plugin. */
export const kubeDeliveryTargetResourceRef = createPermissionResourceRef<
  KubeDeliveryTarget,
  TargetFilter
>().with({
  pluginId: 'kube-delivery',
  resourceType: RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
});

/**
 * Loads targets by their resource refs (`<environment>:<entity ref>` or
 * `<environment>`): the environment from the configuration, the entity from
 * the catalog. An unknown environment is no target (`undefined`: every
 * condition on it is false).
 */
export class TargetLoader {
  private readonly environments: Map<string, TargetEnvironment>;

  constructor(
    private readonly options: {
      environments: ReadonlyArray<TargetEnvironment>;
      catalog: CatalogService;
      auth: AuthService;
    },
  ) {
    this.environments = new Map(
      options.environments.map(e => [
        e.name,
        { name: e.name, protected: e.protected },
      ]),
    );
  }

  /** The environment named so, if configured. */
  environment(name: string): TargetEnvironment | undefined {
    return this.environments.get(name);
  }

  /**
   * `getResources` of the resource type, for Backstage's permission backend:
   * entities are read with the plugin's own credentials (a policy's
   * conditions decide what the user may do, not what the user may see).
   */
  async getResources(
    refs: string[],
  ): Promise<Array<KubeDeliveryTarget | undefined>> {
    const credentials = await this.options.auth.getOwnServiceCredentials();
    return this.load(refs.map(parseTargetRef), credentials);
  }

  /**
   * Whose credentials read the catalog for a caller: a user's own, so the
   * catalog's permissions apply to them; the plugin's for a service
   * principal, which the permission client does not restrict by policy and
   * whose token may be limited to Kube Delivery (`accessRestrictions`), so
   * that the catalog would refuse a request on its behalf.
   */
  async catalogCredentials(
    credentials: BackstageCredentials,
  ): Promise<BackstageCredentials> {
    return this.options.auth.isPrincipal(credentials, 'service')
      ? this.options.auth.getOwnServiceCredentials()
      : credentials;
  }

  /** Targets of environments and entity refs, the entities read as the caller (see {@link TargetLoader.catalogCredentials}). */
  async load(
    refs: ReadonlyArray<{ environment: string; entityRef?: string }>,
    credentials: BackstageCredentials,
  ): Promise<Array<KubeDeliveryTarget | undefined>> {
    const entityRefs = [
      ...new Set(refs.flatMap(r => (r.entityRef ? [r.entityRef] : []))),
    ];
    const entities = new Map<string, Entity>();
    if (entityRefs.length > 0) {
      const { items } = await this.options.catalog.getEntitiesByRefs(
        { entityRefs },
        { credentials: await this.catalogCredentials(credentials) },
      );
      items.forEach((entity, index) => {
        if (entity) entities.set(entityRefs[index], entity);
      });
    }
    return refs.map(ref => {
      const environment = this.environments.get(ref.environment);
      if (!environment) return undefined;
      if (!ref.entityRef) return { environment };
      const entity = entities.get(ref.entityRef);
      return {
        environment,
        entityRef: ref.entityRef,
        ...(entity && { entity }),
      };
    });
  }
}
