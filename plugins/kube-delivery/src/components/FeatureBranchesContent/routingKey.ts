import type { Entity } from '@backstage/catalog-model';
import {
  ANNOTATION_ROUTING,
  type RoutingKey,
  type RoutingKind,
} from '@internal/plugin-kube-delivery-common';

/** Keys to suggest when the service does not name one (the Online Boutique's). */
export const DEFAULT_KEYS: Record<RoutingKind, string> = {
  cookie: 'shop_session-id',
  header: 'userid',
  baggage: 'feature',
};

/** The service's `kube-delivery.io/routing` annotation, e.g. `cookie:shop_session-id`. */
export function routingKeyOf(entity: Entity): RoutingKey {
  const value = entity.metadata.annotations?.[ANNOTATION_ROUTING] ?? '';
  const [kind, name] = value.split(':', 2);
  if ((kind === 'cookie' || kind === 'header' || kind === 'baggage') && name) {
    return { kind, name };
  }
  return { kind: 'cookie', name: DEFAULT_KEYS.cookie };
}

/** What a client sends for a rule to match it: one header line. */
export function headerToSend(kind: RoutingKind, key: string, value: string) {
  switch (kind) {
    case 'cookie':
      return { name: 'Cookie', value: `${key}=${value}` };
    case 'baggage':
      return { name: 'baggage', value: `${key}=${value}` };
    default:
      return { name: key, value };
  }
}

/** "7h 59m left", "12m left" or "expired". */
export function timeLeft(expiresAt: string, now = Date.now()): string {
  const ms = new Date(expiresAt).getTime() - now;
  if (Number.isNaN(ms)) return expiresAt;
  if (ms <= 0) return 'expired';
  const minutes = Math.ceil(ms / 60_000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (days > 0) return `${days}d ${hours}h left`;
  if (hours > 0) return `${hours}h ${String(rest).padStart(2, '0')}m left`;
  return `${rest}m left`;
}
