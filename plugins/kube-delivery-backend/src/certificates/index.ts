export {
  CertificateService,
  EXPIRY_CHECK_ACTOR,
} from './CertificateService';
export {
  DatabaseCertificateStore,
  type CertificateRecord,
  type CertificateStore,
} from './CertificateStore';
export {
  readCertificateSettings,
  readGatewayTls,
  type CertificateSettings,
} from './config';
export { addCertificateRoutes } from './router';
