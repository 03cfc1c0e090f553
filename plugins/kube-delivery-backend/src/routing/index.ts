export { DatabaseRouteStore } from './RouteStore';
export type { NewRouteRule, RouteStore } from './RouteStore';
export { RouteReconciler, liveBranches } from './RouteReconciler';
export type { RouteTarget } from './RouteReconciler';
export { RoutingService } from './RoutingService';
export type {
  BranchRemoval,
  CreatedRule,
  RouteAdminCheck,
  RouteTestResult,
  RoutedSpec,
} from './RoutingService';
export {
  HIDDEN_VALUE,
  routeEventAsSeenBy,
  ruleValueGate,
  ruleViewerOf,
  rulesAsSeenBy,
} from './ruleValues';
export type { RouteRuleView, RuleViewer } from './ruleValues';
export { readRoutingSettings } from './settings';
export type { RoutingSettings } from './settings';
export { scheduleRoutingTask, ROUTING_TASK_ID } from './task';
export { renderVirtualService } from './virtualService';
export type { VirtualService } from './virtualService';
export type { RouteObjectInput } from './routeObjects';
