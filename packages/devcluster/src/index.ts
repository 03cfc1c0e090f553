/**
 * Kube Delivery's local Kubernetes cluster: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler built from their Go modules and kwok for simulated nodes, on loopback;
 * Traefik serves the environments' Gateways and the pod runner serves opted-in pods.
 *
 * @packageDocumentation
 */
export {
  getDevCluster,
  startDevCluster,
  stopDevCluster,
  devClusterStatus,
  stopDevClusterComponent,
  startDevClusterComponent,
  NOT_RUNNING_MESSAGE,
} from './cluster';
export type {
  DevCluster,
  DevClusterStatus,
  ComponentStatus,
  StartOptions,
} from './cluster';
export { kubeApiRequest } from './api';
export { httpStatus } from './processes';
export {
  ENVIRONMENT_HOSTS,
  GATEWAY_CLASS,
  SERVED_POD_ANNOTATIONS,
  environmentGateway,
  requireDataPlane,
} from './dataPlane';
export type { DataPlaneState } from './dataPlane';
export type { KubeApiRequest, KubeApiResponse } from './api';
export {
  VERSIONS,
  NAMESPACES,
  NODES,
  NEVER_READY_ANNOTATION,
  EXIT_CODE_ANNOTATION,
  FAIL_AS_ANNOTATION,
  SERVE_ANNOTATION,
  DEPLOYER_NAMESPACE,
  GATEWAY_SERVICE_ACCOUNT,
  DEPLOY_ROLE,
  GATEWAY_ROLE,
  POD_SECURITY_LABELS,
  deployerServiceAccount,
  deployerUsername,
} from './versions';
export type { DeployNamespace, TokenNamespace } from './versions';
export type { ExecResult } from './exec';
