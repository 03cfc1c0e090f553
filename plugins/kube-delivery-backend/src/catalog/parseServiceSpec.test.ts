import type { Entity } from '@backstage/catalog-model';
import { InputError } from '@backstage/errors';
import { parseServiceSpec } from './parseServiceSpec';

function entity(
  annotations: Record<string, unknown>,
  name: unknown = 'adservice',
): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name,
      namespace: 'default',
      annotations: {
        'kube-delivery.io/image': 'octopussamples/microservicedemo-adservice',
        ...annotations,
      },
    },
    spec: { type: 'service', owner: 'team-a', lifecycle: 'production' },
  } as unknown as Entity;
}

function errorOf(e: Entity): Error {
  try {
    parseServiceSpec(e);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected parseServiceSpec to throw');
}

describe('parseServiceSpec', () => {
  it('applies defaults', () => {
    expect(parseServiceSpec(entity({}))).toEqual({
      entityRef: 'component:default/adservice',
      name: 'adservice',
      image: 'octopussamples/microservicedemo-adservice',
      strategy: 'rolling',
      replicas: 1,
      antiAffinity: 'preferred',
      kubernetesId: 'adservice',
    });
  });

  it('reads every annotation', () => {
    expect(
      parseServiceSpec(
        entity({
          'kube-delivery.io/image': 'registry.example.com:5000/shop/frontend',
          'kube-delivery.io/manifest': './k8s/frontend.yaml',
          'kube-delivery.io/strategy': 'blue-green',
          'kube-delivery.io/replicas': '3',
          'kube-delivery.io/anti-affinity': 'required',
          'kube-delivery.io/routing': 'cookie:shop_session-id',
          'kube-delivery.io/ingress': 'istio-system/ingressgateway',
          'backstage.io/kubernetes-id': 'shop-frontend',
        }),
      ),
    ).toEqual({
      entityRef: 'component:default/adservice',
      name: 'adservice',
      image: 'registry.example.com:5000/shop/frontend',
      manifest: './k8s/frontend.yaml',
      strategy: 'blue-green',
      replicas: 3,
      antiAffinity: 'required',
      routing: { kind: 'cookie', name: 'shop_session-id' },
      ingress: { namespace: 'istio-system', name: 'ingressgateway' },
      kubernetesId: 'shop-frontend',
    });
  });

  it.each([
    ['header:userid', { kind: 'header', name: 'userid' }],
    ['baggage:test.user', { kind: 'baggage', name: 'test.user' }],
    ["cookie:a!#$%&'*+.^_`|~-z", { kind: 'cookie', name: "a!#$%&'*+.^_`|~-z" }],
  ])('reads routing %s', (routing, expected) => {
    expect(
      parseServiceSpec(entity({ 'kube-delivery.io/routing': routing })).routing,
    ).toEqual(expected);
  });

  it.each([
    'adservice',
    'gcr.io/google-samples/microservices-demo/adservice',
    'localhost:5000/a',
    'a__b/c.d/e--f',
    'x'.repeat(255),
  ])('accepts the image %s', image => {
    expect(
      parseServiceSpec(entity({ 'kube-delivery.io/image': image })).image,
    ).toBe(image);
  });

  it.each([
    ['./k8s/adservice.yaml'],
    ['k8s/adservice.yaml'],
    ['adservice.yaml'],
    ['./a/./b/c.yml'],
    ['https://github.com/org/repo/blob/main/k8s/adservice.yaml'],
    ['http://git.internal:8080/raw/adservice.yaml'],
  ])('accepts the manifest %s', manifest => {
    expect(
      parseServiceSpec(entity({ 'kube-delivery.io/manifest': manifest }))
        .manifest,
    ).toBe(manifest);
  });

  it('falls back to the entity name for an unusable kubernetes-id', () => {
    for (const id of ['', 'has space', 'x'.repeat(64), 42]) {
      expect(
        parseServiceSpec(entity({ 'backstage.io/kubernetes-id': id }))
          .kubernetesId,
      ).toBe('adservice');
    }
  });

  it.each([
    // [annotation, value, message fragment]
    [
      'kube-delivery.io/image',
      undefined,
      'must be a lowercase image repository',
    ],
    ['kube-delivery.io/image', 'adservice:1.0', 'without tag or digest'],
    ['kube-delivery.io/image', 'adservice@sha256:abc', 'without tag'],
    ['kube-delivery.io/image', 'AdService', 'lowercase'],
    ['kube-delivery.io/image', 'a//b', 'image repository'],
    ['kube-delivery.io/image', '/a', 'image repository'],
    ['kube-delivery.io/image', 'a/', 'image repository'],
    ['kube-delivery.io/image', 'a-', 'image repository'],
    ['kube-delivery.io/image', 'https://a/b', 'image repository'],
    ['kube-delivery.io/image', 'a b', 'image repository'],
    ['kube-delivery.io/image', 'x'.repeat(256), 'at most 255'],
    ['kube-delivery.io/image', ['a'], 'got object'],
    [
      'kube-delivery.io/replicas',
      'abc',
      'must be an integer from 1 to 50, got "abc"',
    ],
    ['kube-delivery.io/replicas', '0', 'from 1 to 50'],
    ['kube-delivery.io/replicas', '51', 'from 1 to 50'],
    ['kube-delivery.io/replicas', '01', 'from 1 to 50'],
    ['kube-delivery.io/replicas', '2.5', 'from 1 to 50'],
    ['kube-delivery.io/replicas', ' 2', 'from 1 to 50'],
    ['kube-delivery.io/replicas', 3, 'got number'],
    [
      'kube-delivery.io/strategy',
      'canary',
      'one of rolling, recreate, blue-green, got "canary"',
    ],
    ['kube-delivery.io/strategy', 'Rolling', 'one of'],
    ['kube-delivery.io/strategy', '', 'one of'],
    [
      'kube-delivery.io/anti-affinity',
      'soft',
      'one of preferred, required, none',
    ],
    ['kube-delivery.io/routing', 'userid', '"cookie:<name>"'],
    ['kube-delivery.io/routing', 'query:x', '"header:<name>"'],
    ['kube-delivery.io/routing', 'header:UserId', 'lowercase'],
    ['kube-delivery.io/routing', 'header:user id', 'header'],
    ['kube-delivery.io/routing', 'cookie:', 'cookie'],
    ['kube-delivery.io/routing', 'cookie:a=b', 'cookie'],
    ['kube-delivery.io/routing', 'cookie:a;b', 'cookie'],
    ['kube-delivery.io/routing', 'baggage:a,b', 'baggage'],
    ['kube-delivery.io/routing', `cookie:${'a'.repeat(60)}`, 'at most 64'],
    [
      'kube-delivery.io/ingress',
      'ingressgateway',
      '"<namespace>/<gateway name>"',
    ],
    ['kube-delivery.io/ingress', 'a/b/c', 'RFC 1123'],
    ['kube-delivery.io/ingress', 'Istio-System/gw', 'RFC 1123'],
    ['kube-delivery.io/ingress', 'istio-system/', 'RFC 1123'],
    ['kube-delivery.io/manifest', '../secrets.yaml', 'relative path inside'],
    ['kube-delivery.io/manifest', 'k8s/../../x.yaml', 'relative path inside'],
    ['kube-delivery.io/manifest', '/etc/passwd', 'relative path inside'],
    ['kube-delivery.io/manifest', '%2e%2e/x.yaml', 'relative path inside'],
    ['kube-delivery.io/manifest', '.%2e/x.yaml', 'relative path inside'],
    ['kube-delivery.io/manifest', 'k8s\\..\\x.yaml', 'relative path inside'],
    ['kube-delivery.io/manifest', 'k8s//x.yaml', 'relative path inside'],
    ['kube-delivery.io/manifest', 'k8s/', 'relative path inside'],
    ['kube-delivery.io/manifest', '.', 'relative path inside'],
    ['kube-delivery.io/manifest', '', 'relative path inside'],
    ['kube-delivery.io/manifest', 'file:///etc/passwd', 'http(s) URL'],
    // eslint-disable-next-line no-script-url
    ['kube-delivery.io/manifest', 'javascript:alert(1)', 'http(s) URL'],
    ['kube-delivery.io/manifest', 'c:x.yaml', 'http(s) URL'],
    [
      'kube-delivery.io/manifest',
      'https://user:pw@host/x.yaml',
      'without credentials',
    ],
    ['kube-delivery.io/manifest', 'https://host/x.yaml\n', 'http(s) URL'],
    ['kube-delivery.io/manifest', 'a.yaml\u0000', 'http(s) URL'],
    [
      'kube-delivery.io/manifest',
      `https://h/${'a'.repeat(2048)}`,
      'at most 2048',
    ],
  ])('rejects %s = %j', (annotation, value, message) => {
    const error = errorOf(entity({ [annotation]: value }));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toContain(`Annotation ${annotation} must be`);
    expect(error.message).toContain(message);
  });

  it.each([
    ['AdService'],
    ['ad_service'],
    ['1service'],
    ['-ad'],
    ['ad-'],
    ['a'.repeat(46)],
    [''],
    [null],
    [42],
  ])('rejects the entity name %j', name => {
    const error = errorOf(entity({}, name));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toMatch(
      /^Entity name must be an RFC 1123 label of at most 45 characters/,
    );
  });

  it('accepts a 45-character name', () => {
    const name = `a${'b'.repeat(44)}`;
    expect(parseServiceSpec(entity({}, name)).name).toBe(name);
  });

  it('ignores inherited annotation keys', () => {
    const e = entity({});
    const annotations = Object.create({ 'kube-delivery.io/replicas': 'abc' });
    Object.assign(annotations, e.metadata.annotations);
    e.metadata.annotations = annotations;
    expect(parseServiceSpec(e).replicas).toBe(1);
  });

  it('rejects a pathological image quickly', () => {
    const start = Date.now();
    const error = errorOf(
      entity({ 'kube-delivery.io/image': `${'a-'.repeat(127)}!` }),
    );
    expect(error).toBeInstanceOf(InputError);
    expect(Date.now() - start).toBeLessThan(100);
  });
});
