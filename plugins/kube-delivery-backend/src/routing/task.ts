import type { SchedulerService } from '@backstage/backend-plugin-api';
import type { RoutingService } from './RoutingService';
import type { RoutingSettings } from './settings';

export const ROUTING_TASK_ID = 'kube-delivery-routing';

/**
 * Removes expired rules and puts back hand-edited routing objects every
 * `intervalSeconds`, on one backend replica at a time.
 */
export async function scheduleRoutingTask(
  scheduler: SchedulerService,
  routing: RoutingService,
  settings: RoutingSettings,
): Promise<void> {
  await scheduler.scheduleTask({
    id: ROUTING_TASK_ID,
    frequency: { seconds: settings.intervalSeconds },
    timeout: { seconds: Math.max(60, settings.intervalSeconds) },
    initialDelay: { seconds: Math.min(30, settings.intervalSeconds) },
    scope: 'global',
    fn: () => routing.runScheduled(),
  });
}
