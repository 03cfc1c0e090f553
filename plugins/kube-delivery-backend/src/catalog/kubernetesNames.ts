/** An RFC 1123 label: lowercase alphanumerics and '-', alphanumeric at both ends. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** The value of a Kubernetes label. */
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Longest RFC 1123 label, and longest label value. */
export const MAX_LABEL_LENGTH = 63;

/** Whether `value` is an RFC 1123 label of at most 63 characters. */
export function isDnsLabel(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= MAX_LABEL_LENGTH &&
    DNS_LABEL.test(value)
  );
}

/** Whether `value` is a valid (possibly empty) Kubernetes label value. */
export function isLabelValue(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= MAX_LABEL_LENGTH &&
    LABEL_VALUE.test(value)
  );
}
