/**
 * The signals channel on which the backend says that something of an
 * entity's delivery changed (a deployment queued, a step moved on, an
 * outcome recorded, an approval decided). The message carries nothing but
 * `{ type: 'changed' }`: whoever listens reads the change through the API,
 * which checks their permissions.
 *
 * @public
 */
export function kubeDeliveryEntityChannel(entityRef: string): string {
  return `kube-delivery:entity:${entityRef}`;
}

/** What a signal on {@link kubeDeliveryEntityChannel} says. @public */
export interface KubeDeliveryChangeSignal {
  [key: string]: string;
  type: 'changed';
}
