/*
 * The Online Boutique examples (examples/online-boutique) as the catalog and
 * Kube Delivery read them: every entity passes the catalog's validation and
 * its relations resolve inside the examples; every service's annotations and
 * manifest pass Kube Delivery's parsers, and the rendered objects pass a
 * server-side dry run in the devcluster's dev namespace with dev's own
 * namespace-scoped token. A dry run persists nothing, so the real service
 * names are safe here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { mockServices } from '@backstage/backend-test-utils';
import {
  apiEntityV1alpha1Validator,
  componentEntityV1alpha1Validator,
  DefaultNamespaceEntityPolicy,
  EntityPolicies,
  type Entity,
  FieldFormatEntityPolicy,
  groupEntityV1alpha1Validator,
  locationEntityV1alpha1Validator,
  NoForeignRootFieldsEntityPolicy,
  parseEntityRef,
  resourceEntityV1alpha1Validator,
  SchemaValidEntityPolicy,
  stringifyEntityRef,
  systemEntityV1alpha1Validator,
} from '@backstage/catalog-model';
import { getDevCluster } from '@internal/devcluster';
import { parseAllDocuments } from 'yaml';
import { parseServiceSpec } from '../catalog';
import { createEnvironmentCluster } from '../cluster';
import { parseManifest, renderRelease } from '../manifests';

jest.setTimeout(120_000);

const EXAMPLES = path.resolve(
  __dirname,
  '../../../../examples/online-boutique',
);
const MICROSERVICES = [
  'adservice',
  'cartservice',
  'checkoutservice',
  'currencyservice',
  'emailservice',
  'frontend',
  'loadgenerator',
  'paymentservice',
  'productcatalogservice',
  'recommendationservice',
  'shippingservice',
];

interface ExampleEntity {
  entity: Entity;
  file: string;
}

/** Follows the Location's targets as the catalog's file processor does. */
function loadLocation(file: string): ExampleEntity[] {
  return parseAllDocuments(fs.readFileSync(file, 'utf8')).flatMap(document => {
    const entity = document.toJS() as Entity;
    const own = { entity, file };
    if (entity.kind !== 'Location') return [own];
    const targets = (entity.spec?.targets ?? []) as string[];
    return [
      own,
      ...targets.flatMap(target =>
        loadLocation(path.resolve(path.dirname(file), target)),
      ),
    ];
  });
}

const examples = loadLocation(path.join(EXAMPLES, 'catalog-info.yaml'));
const deliverable = examples.filter(
  ({ entity }) => entity.metadata.annotations?.['kube-delivery.io/image'],
);

describe('Online Boutique catalog', () => {
  const policy = EntityPolicies.allOf([
    new DefaultNamespaceEntityPolicy(),
    new NoForeignRootFieldsEntityPolicy(),
    new FieldFormatEntityPolicy(),
    new SchemaValidEntityPolicy(),
  ]);
  const kindValidators = [
    apiEntityV1alpha1Validator,
    componentEntityV1alpha1Validator,
    groupEntityV1alpha1Validator,
    locationEntityV1alpha1Validator,
    resourceEntityV1alpha1Validator,
    systemEntityV1alpha1Validator,
  ];

  it('holds the System, every microservice with its API, redis-cart and the owner groups', () => {
    const refs = examples.map(({ entity }) => stringifyEntityRef(entity));
    expect(refs).toEqual(
      expect.arrayContaining([
        'system:default/online-boutique',
        'resource:default/redis-cart',
        ...MICROSERVICES.map(name => `component:default/${name}`),
      ]),
    );
    const apis = examples.filter(({ entity }) => entity.kind === 'API');
    expect(apis).toHaveLength(9);
    for (const { entity } of apis) {
      expect(entity.spec?.type).toBe('grpc');
      expect(entity.spec?.definition).toMatch(/^syntax = "proto3";/);
    }
    expect(new Set(refs).size).toBe(refs.length);
  });

  it.each(examples.map(e => [stringifyEntityRef(e.entity), e] as const))(
    '%s passes the catalog validation',
    async (_ref, { entity }) => {
      await expect(policy.enforce(entity)).resolves.toBeDefined();
      const matches = await Promise.all(
        kindValidators.map(v => v.check(entity)),
      );
      expect(matches.filter(Boolean)).toHaveLength(1);
    },
  );

  it('relations point at entities of the examples', () => {
    const known = new Set(
      examples.map(({ entity }) => stringifyEntityRef(entity)),
    );
    const defaults: Record<string, string> = {
      owner: 'group',
      system: 'system',
      providesApis: 'api',
      consumesApis: 'api',
      dependsOn: 'component',
      parent: 'group',
      children: 'group',
    };
    for (const { entity } of examples) {
      for (const [field, kind] of Object.entries(defaults)) {
        const value = entity.spec?.[field];
        const refs = (Array.isArray(value) ? value : [value]).filter(Boolean);
        for (const ref of refs as string[]) {
          const target = stringifyEntityRef(
            parseEntityRef(ref, {
              defaultKind: kind,
              defaultNamespace: 'default',
            }),
          );
          expect({
            entity: entity.metadata.name,
            field,
            target,
            known: known.has(target),
          }).toEqual({
            entity: entity.metadata.name,
            field,
            target,
            known: true,
          });
        }
      }
    }
  });
});

describe('Online Boutique delivery', () => {
  it('delivers every microservice and redis-cart, each labelled for the Kubernetes plugin', () => {
    expect(
      deliverable.map(({ entity }) => entity.metadata.name).sort(),
    ).toEqual([...MICROSERVICES, 'redis-cart'].sort());
    for (const { entity } of deliverable) {
      expect(entity.metadata.annotations?.['backstage.io/kubernetes-id']).toBe(
        entity.metadata.name,
      );
    }
  });

  it.each(deliverable.map(e => [e.entity.metadata.name, e] as const))(
    '%s: annotations and manifest parse, rendered objects pass a server-side dry run in dev',
    async (_name, { entity, file }) => {
      const spec = parseServiceSpec(entity);
      const manifest = parseManifest(
        fs.readFileSync(
          path.resolve(path.dirname(file), spec.manifest!),
          'utf8',
        ),
      );
      const cluster = await getDevCluster();
      const rendered = renderRelease({
        spec,
        version: '0.1.3',
        imageRef: `${spec.image}:0.1.3`,
        manifest,
        environment: { name: 'dev', namespace: 'dev' },
        releaseId: 'examples-dry-run',
      });
      expect(
        rendered.deployment.metadata?.labels?.['backstage.io/kubernetes-id'],
      ).toBe(spec.name);
      const dev = createEnvironmentCluster(
        {
          name: 'dev',
          namespace: 'dev',
          url: cluster.server,
          caData: cluster.caData,
          serviceAccountToken: cluster.tokens.dev,
        },
        mockServices.logger.mock(),
      );
      await expect(
        dev.dryRun([
          rendered.deployment,
          ...(rendered.service ? [rendered.service] : []),
          ...rendered.configMaps,
          ...rendered.secrets,
          ...(rendered.podDisruptionBudget
            ? [rendered.podDisruptionBudget]
            : []),
        ]),
      ).resolves.toBeUndefined();
    },
  );
});
