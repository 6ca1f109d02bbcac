import { ConfigurableModuleBuilder } from '@nestjs/common';
import { createTusController } from './http/tus.controller';
import { normalizeMountPath, TusS3ModuleExtras, TusS3ModuleOptions } from './tus-s3.options';

export const {
  ConfigurableModuleClass: ConfigurableTusS3Module,
  MODULE_OPTIONS_TOKEN: TUS_S3_MODULE_OPTIONS,
  OPTIONS_TYPE: TUS_S3_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: TUS_S3_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<TusS3ModuleOptions>({ moduleName: 'TusS3' })
  .setClassMethodName('forRoot')
  .setExtras<TusS3ModuleExtras>({ path: '/files', isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
    controllers: [createTusController(normalizeMountPath(extras.path))],
  }))
  .build();
