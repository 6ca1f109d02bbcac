import { ConfigurableModuleBuilder, Provider } from '@nestjs/common';
import { applyRouteEnhancers } from './http/route-enhancers';
import { createTusController } from './http/tus.controller';
import { TUS_CONTROLLER, TUS_HOOKS, TUS_MOUNT_PATH } from './tus-s3.constants';
import { normalizeMountPath, TusS3ModuleExtras, TusS3ModuleOptions } from './tus-s3.options';

export const {
  ConfigurableModuleClass: ConfigurableTusS3Module,
  MODULE_OPTIONS_TOKEN: TUS_S3_MODULE_OPTIONS,
  OPTIONS_TYPE: TUS_S3_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: TUS_S3_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<TusS3ModuleOptions>({ moduleName: 'TusS3' })
  .setClassMethodName('forRoot')
  .setExtras<TusS3ModuleExtras>({ path: '/files', isGlobal: false }, (definition, extras) => {
    const mountPath = normalizeMountPath(extras.path);
    const controller = applyRouteEnhancers(createTusController(mountPath), extras);
    const providers: Provider[] = [
      { provide: TUS_MOUNT_PATH, useValue: mountPath },
      { provide: TUS_CONTROLLER, useValue: controller },
      extras.hooks ? { provide: TUS_HOOKS, useClass: extras.hooks } : { provide: TUS_HOOKS, useValue: {} },
    ];
    return {
      ...definition,
      global: extras.isGlobal,
      imports: [...(definition.imports ?? []), ...(extras.imports ?? [])],
      controllers: [controller],
      providers: [...(definition.providers ?? []), ...providers],
    };
  })
  .build();
