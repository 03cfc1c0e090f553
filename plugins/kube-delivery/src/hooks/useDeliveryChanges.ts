import { useSignal } from '@backstage/plugin-signals-react';
import {
  kubeDeliveryEntityChannel,
  type KubeDeliveryChangeSignal,
} from '@internal/plugin-kube-delivery-common';
import { useEffect, useState } from 'react';
import type { PushedChanges } from './usePolledAsync';

/**
 * The backend's signals that an entity's delivery changed (a deployment
 * queued, a step moved on, an outcome, an approval), through Backstage's
 * signals plugin. `available` turns true only once a signal has arrived:
 * the signals API being installed does not mean its WebSocket is connected,
 * so the tabs poll as before until push is seen to work.
 */
export function useDeliveryChanges(entityRef: string): PushedChanges {
  const { lastSignal } = useSignal<KubeDeliveryChangeSignal>(
    kubeDeliveryEntityChannel(entityRef),
  );
  const [received, setReceived] = useState(false);
  useEffect(() => {
    if (lastSignal) setReceived(true);
  }, [lastSignal]);
  return { signal: lastSignal, available: received };
}
