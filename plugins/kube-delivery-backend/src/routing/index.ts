export { DatabaseRouteStore } from './RouteStore';
export type { NewRouteRule, RouteStore } from './RouteStore';
export { RouteReconciler, liveBranches } from './RouteReconciler';
export { RoutingService } from './RoutingService';
export type { RouteTestResult } from './RoutingService';
export { renderVirtualService } from './virtualService';
export type { VirtualService, VirtualServiceInput } from './virtualService';
