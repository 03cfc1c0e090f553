export { DatabaseRouteStore } from './RouteStore';
export type { NewRouteRule, RouteStore } from './RouteStore';
export { RouteReconciler, liveBranches } from './RouteReconciler';
export type { RouteHistory, RouteTarget } from './RouteReconciler';
export { RoutingService } from './RoutingService';
export type {
  BranchRemoval,
  RouteTestResult,
  RoutedSpec,
} from './RoutingService';
export { readRoutingSettings } from './settings';
export type { RoutingSettings } from './settings';
export { scheduleRoutingTask, ROUTING_TASK_ID } from './task';
export { createRouting } from './createRouting';
export { renderVirtualService } from './virtualService';
export type { VirtualService, VirtualServiceInput } from './virtualService';
