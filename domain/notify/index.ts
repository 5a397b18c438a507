export {
  NOTIFICATION_KINDS,
  classifySmtpFailure,
  invoiceNotifications,
  kindEnabled,
  lifecycleNotifications,
  nextAttemptDelay,
  notificationId,
  paymentNotifications,
  recipientsFor,
  senderFor,
  usageAlertNotifications,
} from './notify.ts';
export type { BrandNotificationSettings, NotificationIntent, NotificationKind, RetryPolicy, SmtpFailure } from './notify.ts';
export { decimalOrNull, includedSecondsOf, reachedThresholds, thresholdKey, usageAlertId } from './thresholds.ts';
export type { PeriodUsage, Threshold, ThresholdPolicy } from './thresholds.ts';
