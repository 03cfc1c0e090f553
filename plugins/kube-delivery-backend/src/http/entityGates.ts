import type {
  BackstageCredentials,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { stringifyEntityRef, type Entity } from '@backstage/catalog-model';
import { NotAllowedError, NotFoundError } from '@backstage/errors';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import {
  AuthorizeResult,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';
import type { RESOURCE_TYPE_KUBE_DELIVERY_TARGET } from '@internal/plugin-kube-delivery-common';
import type express from 'express';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import type { KubeDeliveryAuthorizer } from '../permissions/authorize';

/** A permission on a target: an entity's service in an environment. */
export type TargetPermission = ResourcePermission<
  typeof RESOURCE_TYPE_KUBE_DELIVERY_TARGET
>;

/** The entity in the path as the caller sees it, and who the caller is. */
export interface EntityInPath {
  entity: Entity;
  entityRef: string;
  credentials: BackstageCredentials;
}

/** A request to an entity route, whatever its body and query. */
export type EntityRequest = express.Request<
  { kind: string; namespace: string; name: string },
  any,
  any,
  any
>;

/** The gates of every `/entities/{kind}/{namespace}/{name}/…` route. */
export interface EntityGates {
  /**
   * The entity in the path, as the caller may see it in the catalog (404
   * otherwise); no permission asked. Users and service principals unless
   * `allow` says otherwise.
   */
  entityInPath(
    req: EntityRequest,
    allow?: Array<'user' | 'service'>,
  ): Promise<EntityInPath>;
  /**
   * The gate of what is not done in an environment (reading, creating a
   * release): the entity in the path and a permission on it.
   */
  authorizedEntity(
    req: EntityRequest,
    permission: ResourcePermission<'catalog-entity'>,
  ): Promise<EntityInPath>;
  /**
   * The gate of what is done in an environment: every permission on the
   * target `<environment>:<entity ref>`, in one question to the policy. An
   * unknown environment is a 400 naming the configured ones.
   */
  authorizeTarget(
    found: EntityInPath,
    permission: TargetPermission | TargetPermission[],
    environment: string,
  ): Promise<void>;
  /** Whether the caller holds a target permission on the entity in an environment (no 403). */
  mayOnTarget(
    found: EntityInPath,
    permission: TargetPermission,
    environment: string,
  ): Promise<boolean>;
}

export function createEntityGates(options: {
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  authorizer: KubeDeliveryAuthorizer;
  catalog: CatalogService;
  environments: EnvironmentRegistry;
}): EntityGates {
  const { httpAuth, permissions, authorizer, catalog, environments } = options;

  const gates: EntityGates = {
    async entityInPath(req, allow = ['user', 'service']) {
      const credentials = await httpAuth.credentials(req, { allow });
      const entityRef = stringifyEntityRef(req.params);
      // As the user (the catalog's permissions apply); a service principal's
      // token may be limited to Kube Delivery, so the plugin reads for it.
      const entity = await catalog.getEntityByRef(entityRef, {
        credentials: await authorizer.catalogCredentials(credentials),
      });
      if (!entity) throw new NotFoundError(`No entity ${entityRef}`);
      return { entity, entityRef, credentials };
    },

    async authorizedEntity(req, permission) {
      const found = await gates.entityInPath(req);
      const [service] = authorizer.servicePrincipalDecisions(
        found.credentials,
        [permission],
      );
      if (service.result === 'deny') throw new NotAllowedError(service.message);
      const [decision] = await permissions.authorize(
        [{ permission, resourceRef: found.entityRef }],
        { credentials: found.credentials },
      );
      if (decision.result !== AuthorizeResult.ALLOW) {
        throw new NotAllowedError(
          `You may not ${permission.name} on ${found.entityRef}; ask the entity's owners or your platform team`,
        );
      }
      return found;
    },

    async authorizeTarget(found, permission, environment) {
      environments.require(environment);
      await authorizer.authorize(found.credentials, permission, {
        environment,
        entityRef: found.entityRef,
      });
    },

    async mayOnTarget(found, permission, environment) {
      const [allowed] = await authorizer.decide(
        found.credentials,
        [permission],
        { environment, entityRef: found.entityRef },
      );
      return allowed;
    },
  };
  return gates;
}
