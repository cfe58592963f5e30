// The design document's "Task Cancellation" (section 6) is server code: check the state, move the
// task to cancelled, tell the agent to stop, refund the reserved credits. The gateway's cancel route
// does exactly that. This is its client side, with the document's checks; not a verbatim copy.
import { a2aClient } from "./support";

async function cancelTask(taskId: string, reason: string) {
  const task = await a2aClient.getTask(taskId);

  if (!task || !['submitted', 'working'].includes(task.status)) {
    throw new Error('Task cannot be cancelled');
  }

  // The gateway moves it to cancelled, aborts the running handler and releases the reservation.
  const cancelled = await a2aClient.cancelTask(taskId, reason);
  return { task: cancelled, refunded: task.creditsReserved - cancelled.creditsUsed };
}

export { cancelTask };
