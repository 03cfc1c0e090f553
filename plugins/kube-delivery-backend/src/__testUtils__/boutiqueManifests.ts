/**
 * Manifests in the shapes of two Online Boutique services, written for these
 * tests: adservice (gRPC on 9555, gRPC probes) and frontend (HTTP on 8080
 * behind port 80, HTTP probes that send the session cookie).
 */
export function adserviceManifest(name: string, options: { adsPerPage?: string } = {}) {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  selector:
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
            - containerPort: 9555
          env:
            - name: PORT
              value: "9555"
            - name: LOG_LEVEL
              value: "#{LogLevel}"
          envFrom:
            - configMapRef:
                name: ${name}-config
          readinessProbe:
            grpc:
              port: 9555
          livenessProbe:
            grpc:
              port: 9555
          resources:
            requests: { cpu: 200m, memory: 180Mi }
            limits: { cpu: 300m, memory: 300Mi }
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
      port: 9555
      targetPort: 9555
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}-config
data:
  ADS_PER_PAGE: "${options.adsPerPage ?? '2'}"
  ENVIRONMENT: "#{Environment}"
`;
}

export function frontendManifest(name: string, options: { neverReady?: boolean } = {}) {
  const neverReady = options.neverReady
    ? `      annotations:
        devcluster.kube-delivery.io/never-ready: "true"
`
    : '';
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  progressDeadlineSeconds: 15
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
${neverReady}    spec:
      containers:
        - name: ${name}
          image: placeholder
          ports:
            - containerPort: 8080
          readinessProbe:
            httpGet:
              path: /_healthz
              port: 8080
              httpHeaders:
                - name: Cookie
                  value: shop_session-id=x-readiness-probe
          env:
            - name: PORT
              value: "8080"
            - name: AD_SERVICE_ADDR
              value: "adservice:9555"
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
    - name: http
      port: 80
      targetPort: 8080
`;
}
