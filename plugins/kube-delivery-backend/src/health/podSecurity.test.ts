import type { V1Namespace } from '@kubernetes/client-node';
import { podSecurityFinding, podSecurityLevel } from './podSecurity';

const namespace = (labels?: Record<string, string>): V1Namespace => ({
  metadata: { name: 'shop', labels },
});

describe('podSecurityLevel', () => {
  it.each([
    ['restricted', 'restricted'],
    ['baseline', 'baseline'],
    ['privileged', 'privileged'],
    ['Baseline', undefined],
    ['', undefined],
  ] as const)('reads enforce=%p as %p', (value, level) => {
    expect(
      podSecurityLevel(
        namespace({ 'pod-security.kubernetes.io/enforce': value }),
      ),
    ).toBe(level);
  });

  it('is undefined without the enforce label (warn or audit do not enforce)', () => {
    expect(podSecurityLevel(namespace())).toBeUndefined();
    expect(podSecurityLevel({})).toBeUndefined();
    expect(
      podSecurityLevel(
        namespace({
          'pod-security.kubernetes.io/warn': 'restricted',
          'pod-security.kubernetes.io/audit': 'restricted',
        }),
      ),
    ).toBeUndefined();
  });
});

describe('podSecurityFinding', () => {
  it('is ok for baseline and restricted', () => {
    for (const level of ['baseline', 'restricted']) {
      expect(
        podSecurityFinding(
          namespace({ 'pod-security.kubernetes.io/enforce': level }),
        ),
      ).toEqual({
        check: 'pod-security',
        status: 'ok',
        message: `Namespace "shop" enforces PodSecurity "${level}" (pod-security.kubernetes.io/enforce=${level})`,
        action: '',
      });
    }
  });

  it.each([
    [
      undefined,
      'Namespace "shop" has no pod-security.kubernetes.io/enforce label',
    ],
    [
      'privileged',
      'Namespace "shop" has pod-security.kubernetes.io/enforce=privileged',
    ],
    [
      'strict',
      'Namespace "shop" has pod-security.kubernetes.io/enforce=strict, which is not a Pod Security Standards level',
    ],
  ])('is an error with the label command for enforce=%p', (value, start) => {
    const finding = podSecurityFinding(
      namespace(
        value === undefined
          ? { 'istio-injection': 'enabled' }
          : { 'pod-security.kubernetes.io/enforce': value },
      ),
    );
    expect(finding.status).toBe('error');
    expect(finding.message.startsWith(`${start}: `)).toBe(true);
    expect(finding.action).toContain(
      'kubectl label --overwrite namespace shop pod-security.kubernetes.io/enforce=baseline pod-security.kubernetes.io/enforce-version=latest pod-security.kubernetes.io/warn=baseline pod-security.kubernetes.io/warn-version=latest',
    );
    expect(finding.action).toContain(
      'kubectl label --dry-run=server --overwrite namespace shop pod-security.kubernetes.io/enforce=baseline',
    );
  });
});
