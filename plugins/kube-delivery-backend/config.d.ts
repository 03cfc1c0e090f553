/**
 * How to reach a cluster, in one of three forms:
 * - `name`: a cluster of `kubernetes.clusterLocatorMethods` (the Kubernetes
 *   plugin's `config` clusters, or `catalog` clusters registered from a
 *   location in `kubeDelivery.trustedClusterLocations`); its URL and CA come
 *   from there. With `serviceAccountToken(File)` that namespace-scoped token
 *   deploys; without, the cluster's `authProvider` does (serviceAccount,
 *   aws, azure, googleServiceAccount; not oidc, google or aks, which need a
 *   signed-in user's token).
 * - `url` with `serviceAccountToken` or `serviceAccountTokenFile`.
 * - `kubeconfigContext` (and `kubeconfigPath`), for local work.
 */
interface ClusterConnection {
  /** A cluster of `kubernetes.clusterLocatorMethods`, by its name. */
  name?: string;
  /** API server URL, e.g. `https://10.0.0.1:6443`. Not needed with `kubeconfigContext`. */
  url?: string;
  /** Base64-encoded PEM CA bundle of the API server. */
  caData?: string;
  /**
   * A namespace-scoped ServiceAccount token (from the TokenRequest API or
   * a bound token). Never a cluster-admin credential.
   * @visibility secret
   */
  serviceAccountToken?: string;
  /**
   * Path of a file holding the ServiceAccount token, re-read on every use
   * so that rotated tokens are picked up.
   */
  serviceAccountTokenFile?: string;
  /** For local work: a context of the kubeconfig in `KUBECONFIG` (or `kubeconfigPath`). */
  kubeconfigContext?: string;
  /** Kubeconfig file to read `kubeconfigContext` from. */
  kubeconfigPath?: string;
  /** Skip TLS verification. Local clusters only. */
  skipTLSVerify?: boolean;
  /**
   * How long the tabs' reads and health checks wait for this cluster, in
   * seconds (default 5): an unreachable cluster's card says so, and since
   * when, without holding up the other environments.
   */
  timeoutSeconds?: number;
}

export interface Config {
  /** Kube Delivery: where and how catalog services are delivered. */
  kubeDelivery?: {
    /**
     * Catalog locations (`url:https://...`, as in the entities'
     * `backstage.io/managed-by-origin-location`) whose `kubernetes-cluster`
     * Resources environments may name. Others are ignored: whoever may
     * register a catalog file could describe a cluster whose API server
     * collects the deployer's credential.
     */
    trustedClusterLocations?: string[];
    /**
     * The environments services are delivered to. An environment is a cluster,
     * a namespace and credentials scoped to that namespace. Several
     * environments may share one cluster.
     */
    environments?: Array<{
      /** Unique name, an RFC 1123 label, e.g. `dev`. */
      name: string;
      /** The namespace the environment's workloads live in. */
      namespace: string;
      /** The cluster the namespace is in. */
      cluster: ClusterConnection;
      /** Replica floor for every service in this environment, e.g. 2 in production. */
      minReplicas?: number;
      /**
       * Seconds a deleted pod keeps serving before it is told to stop: containers
       * without a preStop hook get a preStop sleep of this long (within their
       * termination grace period), so that proxies stop sending first. Default 5; 0
       * turns it off.
       */
      shutdownDelaySeconds?: number;
      /** Protected environments need an explicit permission policy decision to deploy. */
      protected?: boolean;
      /** Whether feature-branch releases may be deployed here. */
      featureBranches?: boolean;
      /**
       * What routing rules may match on here, e.g. `[header:userid,
       * cookie:shop_session-id, baggage:kd-branch]`: a rule matches only a key
       * the environment offers, so no rule can match a header every browser
       * sends and capture everyone's traffic. Default: none (no rules).
       */
      routingKeys?: string[];
      /**
       * Let a service take over an existing object of its name that Kube
       * Delivery did not create (adopting what `kubectl apply` made before).
       * Default false: such an object is refused with a 409 naming who wrote it.
       */
      adoptUnmanaged?: boolean;
      /**
       * Deploy into a namespace without a `pod-security.kubernetes.io/enforce`
       * label (or with `privileged`). Default false: refused, because the API
       * server would then not judge the pods' security.
       */
      allowNamespaceWithoutPodSecurity?: boolean;
      /**
       * ConfigMaps and Secrets of the namespace that any service's pods may
       * use (e.g. a shared CA bundle); otherwise pods may use only those of
       * their own release.
       */
      shared?: {
        configMaps?: string[];
        secrets?: string[];
      };
      /**
       * How feature-branch routing is written: `istio` (a VirtualService per
       * service) or `gateway-api` (an HTTPRoute per service, with the
       * mainline Service as parent and, for a service with the ingress
       * annotation, the environment's gateway). Default: `gateway.api`, else
       * `istio`.
       */
      routingApi?: 'istio' | 'gateway-api';
      /** Variables available to manifests as `#{Name}` placeholders. */
      variables?: { [name: string]: string };
      /** The ingress gateway of the environment. */
      gateway?: {
        namespace: string;
        name: string;
        hosts?: string[];
        /** Credentials for the gateway namespace (a separate, narrow ServiceAccount). */
        cluster?: ClusterConnection;
        /** The gateway's API: `istio` (networking.istio.io Gateway, default) or `gateway-api` (gateway.networking.k8s.io Gateway, HTTPS listeners with certificateRefs). */
        api?: 'istio' | 'gateway-api';
        /** HTTPS of the gateway: certificates uploaded through the API, or issued by cert-manager. */
        tls?: {
          /** The `kubernetes.io/tls` Secret in the gateway's namespace. Default `kube-delivery-<environment>-tls`. */
          secretName?: string;
          /**
           * Redirect HTTP on port 80 to HTTPS for the gateway's hosts (Istio gateways only). Default false.
           * Refused together with `certManager`: Istio's server-level redirect would also redirect
           * cert-manager's HTTP-01 challenge (`/.well-known/acme-challenge/`).
           */
          httpsRedirect?: boolean;
          /** The cert-manager issuer the environment may be switched to; without it only uploads are possible. */
          certManager?: {
            /** Name of the Issuer (in the gateway's namespace) or ClusterIssuer. */
            issuerName: string;
            /** `ClusterIssuer` (default) or `Issuer`. */
            issuerKind?: 'Issuer' | 'ClusterIssuer';
            /** API group of the issuer. Default `cert-manager.io`. */
            issuerGroup?: string;
          };
        };
      };
    }>;
    /** Environment names in promotion order, e.g. `[dev, test, production]`. */
    lifecycle?: string[];
    /** Channels: rules on the SemVer pre-release that decide where a release may go. */
    channels?: Array<{
      name: string;
      /** Anchored regular expression matched against the pre-release ('' for mainline). */
      prerelease: string;
      /** Environments this channel may deploy to; all when absent. */
      environments?: string[];
    }>;
    /** Gateway certificates: expiry warnings. */
    certificates?: {
      /** A certificate expiring within this many days is accepted with a warning and flagged by the scheduled check. Default 30. */
      expiryWarningDays?: number;
      /** Minutes between scheduled expiry checks (one backend replica runs them). Default 60. */
      checkIntervalMinutes?: number;
    };
    /**
     * Notifications through Backstage's notifications backend
     * (`@backstage/plugin-notifications-backend`). A service's owners (its
     * catalog owner, expanded to users) are told about its deploys whatever
     * is set here; topics `kube-delivery:*` can be muted per user in the
     * notifications settings.
     */
    notifications?: {
      /**
       * The group told about gateway certificates about to expire and
       * environments whose health turns to error, as an entity ref, e.g.
       * `group:default/platform` (kind `group` and namespace `default` when
       * left out). Absent: nobody is told about them.
       */
      platformGroup?: string;
    };
    /** Feature-branch routing rules. */
    routing?: {
      /** Lifetime of a rule created without `ttlMinutes`. Default 480 (8 hours). */
      defaultTtlMinutes?: number;
      /** The longest lifetime a rule may be given, on creation or extension. Default 10080 (7 days). */
      maxTtlMinutes?: number;
      /** Seconds between runs of the task that removes expired rules and puts back hand-edited routing (one backend replica runs it). Default 60, at least 5. */
      intervalSeconds?: number;
    };
    /** Environment health checks (cluster, credentials, Istio CRDs, sidecar injection, gateway). */
    health?: {
      /** Seconds between scheduled checks of every environment (one backend replica runs them). Default 300, at least 10. */
      intervalSeconds?: number;
      /** Seconds after start-up before the first scheduled check. Default 15. */
      initialDelaySeconds?: number;
    };
    /**
     * Image registries that serve as container feeds: the SemVer tags of an
     * image are listed through the OCI Distribution API and a release pins
     * the digest of the tag chosen.
     */
    registries?: Array<{
      /** As images name it: `registry.example.com`, `127.0.0.1:5000`, or `docker.io` (then unqualified images like `octopussamples/x` map here). */
      host: string;
      /** Base URL of the Distribution API, without /v2. Default `https://<host>`. */
      url?: string;
      username?: string;
      /** @visibility secret */
      password?: string;
      /** A bearer token sent as is; excludes username/password. @visibility secret */
      token?: string;
    }>;
    /** Deployment runner settings. */
    deployments?: {
      /** Seconds a claimed deployment's lease lasts before another replica may take it over. Default 30. */
      leaseSeconds?: number;
      /** Seconds before the previous blue-green Deployment is removed after a switch. Default 300. */
      blueGreenCleanupDelaySeconds?: number;
      /** How often the runner looks for queued or abandoned deployments, in milliseconds. Default 1000. */
      pollIntervalMs?: number;
    };
    /**
     * Approvals for protected environments (`protected: true`): a
     * deployment, promotion or rollback into one waits until another user
     * holding `kube-delivery.deployment.approve` approves it.
     */
    approvals?: {
      /**
       * Minutes a deployment waits for approval before it expires (finished
       * as `expired`, never run). Above 0, fractions allowed. Default 1440
       * (a day).
       */
      expiryMinutes?: number;
    };
    /**
     * What callers that are not users may do. Backstage's permission client
     * allows every service principal without asking the permission policy,
     * so Kube Delivery asks this list first: a static CI token, another
     * plugin's own token or a JWKS-verified machine may use only the
     * permissions granted to its subject here (in the environments listed),
     * and any other service principal is refused with a 403 naming its
     * subject. Users, and plugins acting on behalf of a user (the scaffolder
     * actions), are decided by the permission policy. Absent: no service
     * principal may do anything.
     */
    servicePrincipals?: Array<{
      /**
       * The subject exactly as Backstage authenticates it: a static token's
       * configured `subject` (`ci` in the shipped app-config),
       * `plugin:<pluginId>` for another backend plugin,
       * `external:<sub>` for a JWKS token.
       */
      subject: string;
      /** Kube Delivery permission names, e.g. `kube-delivery.read`, `kube-delivery.deployment.create`. */
      permissions: string[];
      /** The environments where the permissions apply to what is done in one (deploy, route...); absent: every environment. */
      environments?: string[];
    }>;
  };
}
