import {
  parseEntityRef,
  stringifyEntityRef,
  type CompoundEntityRef,
  type Entity,
} from '@backstage/catalog-model';
import { InMemoryCatalogClient } from '@backstage/catalog-client/testUtils';

/**
 * An in-memory catalog whose entities a test may add while a backend runs
 * (catalogServiceMock copies its entities when the backend starts): for
 * suites that generate thousands of entities. Only lookups by reference see
 * them, which is what the Kube Delivery router uses.
 */
export class MutableCatalog extends InMemoryCatalogClient {
  private readonly byRef = new Map<string, Entity>();

  set(entity: Entity) {
    this.byRef.set(stringifyEntityRef(entity), entity);
  }

  async getEntityByRef(
    entityRef: string | CompoundEntityRef,
  ): Promise<Entity | undefined> {
    const ref =
      typeof entityRef === 'string'
        ? stringifyEntityRef(parseEntityRef(entityRef))
        : stringifyEntityRef(entityRef);
    return this.byRef.get(ref);
  }
}
