package org.sluice.openwhisk

import java.util.concurrent.TimeUnit
import scala.collection.JavaConverters._
import scala.concurrent.{ExecutionContext, Future}
import scala.concurrent.duration.FiniteDuration
import org.sluice.client.ControllerSession

/** An invoker as OpenWhisk's `invokerHealth()` reports it: `InvokerHealth(InvokerInstanceId(instance, userMemory), state)`. */
final case class InvokerView(instance: Int, userMemoryMB: Long, tags: Seq[String], dedicatedNamespaces: Seq[String], state: String)

/**
 * What a `LoadBalancer` that hands placement to the broker needs, without OpenWhisk's types
 * (docs/OPENWHISK-CONNECTOR.md, "Broker placement"): `publish` becomes [[SluiceConnector.activate]]
 * with the action's limits; `invokerHealth()` and `clusterSize` come from the broker's
 * INVENTORY (PROTOCOL.md §10.1). The adapter to OpenWhisk's `LoadBalancer` trait maps these
 * one to one.
 */
final class SluiceBalancer(connector: SluiceConnector, inventoryTimeout: FiniteDuration) {
  @volatile private var lastControllers = 1

  /** OpenWhisk's invoker states (`InvokerState.asString`: up, unhealthy, unresponsive, down) for the broker's health values. */
  def invokerHealth()(implicit ec: ExecutionContext): Future[IndexedSeq[InvokerView]] = Future {
    val inventory = connector.inventory().get(inventoryTimeout.toMillis, TimeUnit.MILLISECONDS)
    lastControllers = math.max(1, inventory.controllers)
    SluiceBalancer.views(inventory)
  }

  /** Controllers sharing the cluster, as of the last inventory (OpenWhisk divides per-controller limits by it). */
  def clusterSize: Int = lastControllers

  def publish(activationMessage: Array[Byte], memoryMB: Long, timeLimitMillis: Long): Future[Array[Byte]] =
    connector.activate(activationMessage, memoryMB, timeLimitMillis)
}

object SluiceBalancer {
  /**
   * Invokers named `invoker<N>` become OpenWhisk instance N; health 0 is `up`, 1 `unhealthy`,
   * 2 `unresponsive`, 4 (probing) `unhealthy`, and a draining invoker (3) is `down` (OpenWhisk
   * calls a disabled invoker Offline). Others (not named as OpenWhisk names invokers) are left out.
   */
  def views(inventory: ControllerSession.Inventory): IndexedSeq[InvokerView] =
    inventory.invokers.asScala.toIndexedSeq.flatMap { entry =>
      val instance = if (entry.invokerId.startsWith("invoker")) scala.util.Try(entry.invokerId.substring(7).toInt).toOption else None
      val state = entry.health match {
        case 0     => "up"
        case 2     => "unresponsive"
        case 3     => "down"
        case _     => "unhealthy"
      }
      instance.map(n => InvokerView(n, entry.memoryMB, entry.tags.asScala.toList, entry.dedicatedNamespaces.asScala.toList, state))
    }.sortBy(_.instance)
}
