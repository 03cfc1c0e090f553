/**
 * Catalog annotations read by Kube Delivery. Every value is attacker-controlled
 * input: the backend validates each one before use.
 */

/** The prefix of every Kube Delivery annotation. @public */
export const ANNOTATION_PREFIX = 'kube-delivery.io/';

/** Image repository of the service, e.g. `octopussamples/microservicedemo-adservice` (required). @public */
export const ANNOTATION_IMAGE = 'kube-delivery.io/image';
/** The service's own Deployment + Service YAML, relative to the catalog file, or a URL. @public */
export const ANNOTATION_MANIFEST = 'kube-delivery.io/manifest';
/** Deployment strategy: `rolling` (default), `recreate` or `blue-green`. @public */
export const ANNOTATION_STRATEGY = 'kube-delivery.io/strategy';
/** Default replica count; environments may raise it. @public */
export const ANNOTATION_REPLICAS = 'kube-delivery.io/replicas';
/** Pod anti-affinity: `preferred` (default), `required` or `none`. @public */
export const ANNOTATION_ANTI_AFFINITY = 'kube-delivery.io/anti-affinity';
/** How test traffic is recognised, e.g. `cookie:shop_session-id`, `header:userid`. @public */
export const ANNOTATION_ROUTING = 'kube-delivery.io/routing';
/** For a public service: the gateway it is bound to, e.g. `istio-system/ingressgateway`. @public */
export const ANNOTATION_INGRESS = 'kube-delivery.io/ingress';
/**
 * `mount` to mount the service's ServiceAccount token in its pods (for a
 * service that calls the Kubernetes API); absent, no token is mounted. @public
 */
export const ANNOTATION_SERVICE_ACCOUNT_TOKEN =
  'kube-delivery.io/service-account-token';
/**
 * For a public service: the gateway hosts it serves, comma-separated, e.g.
 * `shop.dev.boutique.example, shop.boutique.example`. In each environment the
 * hosts its gateway offers are claimed for the service; absent, all of them. @public
 */
export const ANNOTATION_HOSTS = 'kube-delivery.io/hosts';
/**
 * Image repositories other than `image` that releases of the service may
 * name, comma-separated (e.g. Bookinfo's `istio/examples-bookinfo-reviews-v2`
 * beside `-v1`). Nothing else is ever deployed as the service. @public
 */
export const ANNOTATION_IMAGE_REPOSITORIES =
  'kube-delivery.io/image-repositories';
