import { InputError } from '@backstage/errors';
import type { ServiceSpec } from '../catalog';
import type { EnvironmentConfig } from '../config/environments';

/** Whether a gateway host entry (`shop.example` or `*.example`) covers a host. */
export function gatewayCovers(offered: string, host: string): boolean {
  if (offered === '*') return true;
  if (offered.startsWith('*.')) {
    const suffix = offered.slice(1);
    return (
      host.endsWith(suffix) && !host.slice(0, -suffix.length).includes('.')
    );
  }
  return offered === host;
}

/**
 * The hosts a public service serves in an environment: those it names
 * (`kube-delivery.io/hosts`) that the environment's gateway offers, or,
 * when it names none, every host the gateway offers. Empty for a service
 * without ingress. An InputError when it names hosts and the gateway offers
 * none of them.
 */
export function serviceHosts(
  spec: Pick<ServiceSpec, 'ingress' | 'hosts'>,
  environment: Pick<EnvironmentConfig, 'name' | 'gateway'>,
): string[] {
  if (!spec.ingress) return [];
  const offered = environment.gateway?.hosts ?? [];
  if (!spec.hosts) return offered;
  const hosts = spec.hosts.filter(host =>
    offered.some(o => gatewayCovers(o, host)),
  );
  if (hosts.length === 0) {
    throw new InputError(
      `None of the hosts the entity names (${spec.hosts.join(
        ', ',
      )}) is offered by the gateway of environment "${environment.name}" (${
        offered.join(', ') || 'no hosts'
      }); add one of its hosts to kube-delivery.io/hosts`,
    );
  }
  return hosts;
}
