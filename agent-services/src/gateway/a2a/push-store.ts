/**
 * The SDK's PushNotificationStore seam on our task_push_configs table. Configs registered over A2A
 * get A2A-shaped deliveries, made durably by the webhook worker (signed, retried, recorded); the
 * SDK's own in-process sender is not used. URLs pass the webhook URL policy like every other.
 */
import type { TaskPushNotificationConfig } from "@a2a-js/sdk";
import type { PushNotificationStore, ServerCallContext } from "@a2a-js/sdk/server";
import { RequestMalformedError, TaskNotFoundError } from "@a2a-js/sdk/errors";
import { PushConfigInvalid, PushConfigTaskNotFound, type PushConfigRow, type TenantPushConfigs } from "../../webhooks/push-config-store";
import { checkWebhookUrl, UrlPolicyError, type UrlPolicy } from "../../lib/url-policy";
import { callerOf } from "./caller-context";

export class PgPushConfigStore implements PushNotificationStore {
  constructor(
    private readonly configs: TenantPushConfigs,
    private readonly policy: UrlPolicy,
  ) {}

  async save(taskId: string, context: ServerCallContext, config: TaskPushNotificationConfig): Promise<void> {
    const caller = callerOf(context);
    try {
      await checkWebhookUrl(config.url, this.policy);
    } catch (e) {
      if (e instanceof UrlPolicyError) throw new RequestMalformedError(`push notification url refused: ${e.message}`);
      throw e;
    }
    let row: PushConfigRow;
    try {
      row = await this.configs.create(caller.tenantId, {
        taskId,
        url: config.url,
        token: config.token || null,
        authentication: config.authentication?.scheme ? { schemes: [config.authentication.scheme], credentials: config.authentication.credentials || undefined } : null,
        configId: config.id || null,
        format: "a2a",
      });
    } catch (e) {
      if (e instanceof PushConfigTaskNotFound) throw new TaskNotFoundError(e.message);
      if (e instanceof PushConfigInvalid) throw new RequestMalformedError(`push notification config refused: ${e.message}`);
      throw e;
    }
    // The SDK reads the id the store assigned back from the object it passed in.
    config.id = row.config_id;
    config.taskId = taskId;
  }

  async load(taskId: string, context: ServerCallContext): Promise<TaskPushNotificationConfig[]> {
    const caller = callerOf(context);
    const rows = await this.configs.list(caller.tenantId, taskId);
    return rows.map((r) => ({
      tenant: "",
      id: r.config_id,
      taskId: r.task_id,
      url: r.url,
      token: r.token ?? "",
      authentication: r.authentication?.schemes?.length ? { scheme: r.authentication.schemes[0], credentials: r.authentication.credentials ?? "" } : undefined,
    }));
  }

  async delete(taskId: string, context: ServerCallContext, configId?: string): Promise<void> {
    await this.configs.remove(callerOf(context).tenantId, taskId, configId);
  }
}
