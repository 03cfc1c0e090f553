/**
 * A manifest in the shape of Online Boutique's checkoutservice (gRPC on 5050,
 * configuration from a ConfigMap) with a smoke-test Job, written for the
 * smoke-test and resume tests.
 *
 * On the devcluster (kwok) the Job's pod ends with the exit code of the
 * annotation `devcluster.kube-delivery.io/exit-code` after 1–2 s; on a real
 * cluster its command exits with the same code.
 */
export interface CheckoutManifestOptions {
  /** Adds the smoke-test Job; its pod exits with this code. */
  smokeTestExitCode?: number;
  /**
   * Seconds a new pod must be ready before it counts as available: the
   * rollout takes at least this long, so a test can act while it is running.
   */
  minReadySeconds?: number;
  progressDeadlineSeconds?: number;
  /** Value of the ConfigMap's PAYMENT_TIMEOUT, to give releases different configuration. */
  paymentTimeout?: string;
  /** Name of the smoke test's container (default `smoke`). */
  smokeTestContainer?: string;
  /** Adds a Secret `<name>-smoke-credentials` with this PASSWORD, which the smoke test reads. */
  smokeTestPassword?: string;
}

const TEST_IMAGE = process.env.DEVCLUSTER_TEST_IMAGE || 'nginx:1.27-alpine';

export function checkoutserviceManifest(
  name: string,
  options: CheckoutManifestOptions = {},
) {
  const minReady =
    options.minReadySeconds !== undefined
      ? `  minReadySeconds: ${options.minReadySeconds}\n`
      : '';
  const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  progressDeadlineSeconds: ${options.progressDeadlineSeconds ?? 60}
${minReady}  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: ${name}
          image: placeholder
          ports:
            - containerPort: 5050
          env:
            - name: PORT
              value: "5050"
            - name: LOG_LEVEL
              value: "#{LogLevel}"
          envFrom:
            - configMapRef:
                name: ${name}-config
          readinessProbe:
            grpc:
              port: 5050
          resources:
            requests: { cpu: 100m, memory: 64Mi }
            limits: { cpu: 200m, memory: 128Mi }
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector:
    app: ${name}
  ports:
    - name: grpc
      port: 5050
      targetPort: 5050
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}-config
data:
  PAYMENT_TIMEOUT: "${options.paymentTimeout ?? '5s'}"
  ENVIRONMENT: "#{Environment}"
`;
  if (options.smokeTestExitCode === undefined) return deployment;
  const code = options.smokeTestExitCode;
  const password = options.smokeTestPassword;
  const secret =
    password === undefined
      ? ''
      : `---
apiVersion: v1
kind: Secret
metadata:
  name: ${name}-smoke-credentials
stringData:
  PASSWORD: "${password}"
`;
  const secretRef =
    password === undefined
      ? ''
      : `            - secretRef:
                name: ${name}-smoke-credentials
`;
  return `${deployment}${secret}---
apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}-smoke
  annotations:
    kube-delivery.io/smoke-test: "true"
spec:
  activeDeadlineSeconds: 60
  template:
    metadata:
      annotations:
        devcluster.kube-delivery.io/exit-code: "${code}"
    spec:
      restartPolicy: Never
      containers:
        - name: ${options.smokeTestContainer ?? 'smoke'}
          image: ${TEST_IMAGE}
          command: ["sh", "-c", "sleep 1; exit ${code}"]
          envFrom:
            - configMapRef:
                name: ${name}-config
${secretRef}`;
}
