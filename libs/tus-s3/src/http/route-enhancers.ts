import { Type, UseFilters, UseGuards, UseInterceptors } from '@nestjs/common';
import type { TusS3ModuleExtras } from '../tus-s3.options';

/**
 * Decorates the generated tus controller with the app's route-level enhancers, as `@UseGuards()` and its kin would
 * on a controller of the app's own. Nest resolves them by DI in this module: their dependencies must be global or
 * come from the `imports` extra.
 */
export function applyRouteEnhancers(controller: Type<unknown>, extras: TusS3ModuleExtras): Type<unknown> {
  if (extras.guards?.length) UseGuards(...extras.guards)(controller);
  if (extras.interceptors?.length) UseInterceptors(...extras.interceptors)(controller);
  if (extras.filters?.length) UseFilters(...extras.filters)(controller);
  return controller;
}
