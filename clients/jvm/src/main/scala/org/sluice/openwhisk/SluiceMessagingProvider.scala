package org.sluice.openwhisk

import java.util.concurrent.{ConcurrentHashMap, LinkedBlockingQueue, TimeUnit}
import java.util.concurrent.atomic.{AtomicLong, AtomicReference}
import java.util.logging.Logger
import scala.collection.JavaConverters._
import scala.concurrent.Future
import scala.concurrent.duration.{DurationInt, FiniteDuration}
import scala.util.{Failure, Success, Try}

import org.apache.kafka.common.errors.RecordTooLargeException
import org.apache.openwhisk.common.Logging
import org.apache.openwhisk.core.WhiskConfig
import org.apache.openwhisk.core.connector.{Message, MessageConsumer, MessageProducer, MessagingProvider, ResultMetadata}
import org.apache.openwhisk.core.entity.ByteSize
import org.apache.pekko.actor.ActorSystem
import org.sluice.client.{ControllerSession, InvokerSession, RoutingHeader, Wire}

/** The memory and time limit every activation is sent with: the ActivationMessage does not carry them. */
final case class Hints(memoryMB: Long = 256, timeLimitMillis: Long = 60000)

/**
 * Where the connector finds the broker, read from system properties (OpenWhisk turns
 * `CONFIG_whisk_sluice_controllerEndpoint` into `-Dwhisk.sluice.controller-endpoint`) or the
 * environment. docs/OPENWHISK-CONNECTOR.md lists every key.
 */
final case class Settings(controllerEndpoint: String = "tcp://127.0.0.1:5671", invokerEndpoint: String = "tcp://127.0.0.1:5672",
                          invokerMemoryMB: Long = 2048, invokerSlots: Long = 16, placement: String = "direct", hints: Hints = Hints())

object Settings {
  private def read(property: String, environment: String): Option[String] =
    Option(System.getProperty(property)).orElse(Option(System.getenv(environment))).map(_.trim).filter(_.nonEmpty)

  def fromEnvironment(): Settings = {
    def number(property: String, environment: String, default: Long): Long =
      read(property, environment).map { text =>
        Try(text.toLong).filter(_ >= 0).getOrElse(throw new IllegalArgumentException(s"$property ($environment) must be a whole number, got '$text'"))
      }.getOrElse(default)
    val placement = read("whisk.sluice.placement", "SLUICE_PLACEMENT").getOrElse("direct")
    require(placement == "direct" || placement == "broker", s"whisk.sluice.placement must be direct or broker, got '$placement'")
    Settings(
      controllerEndpoint = read("whisk.sluice.controller-endpoint", "SLUICE_CONTROLLER_ENDPOINT").getOrElse("tcp://127.0.0.1:5671"),
      invokerEndpoint = read("whisk.sluice.invoker-endpoint", "SLUICE_INVOKER_ENDPOINT").getOrElse("tcp://127.0.0.1:5672"),
      invokerMemoryMB = number("whisk.sluice.invoker-memory-mb", "SLUICE_INVOKER_MEMORY_MB", 2048),
      invokerSlots = number("whisk.sluice.invoker-slots", "SLUICE_INVOKER_SLOTS", 16),
      placement = placement,
      hints = Hints(number("whisk.sluice.default-memory-mb", "SLUICE_DEFAULT_MEMORY_MB", 256),
                    number("whisk.sluice.default-time-limit-ms", "SLUICE_DEFAULT_TIME_LIMIT_MS", 60000)))
  }
}

/** A topic as Sluice serves it (docs/TOPICS.md). */
sealed trait Topic
object Topic {
  final case class Invoker(instance: Int) extends Topic
  final case class Completed(controller: String) extends Topic
  final case class Broadcast(name: String) extends Topic

  private val broadcasts = Set("health", "cacheInvalidation", "events")

  def parse(topic: String): Try[Topic] = Try {
    if (topic.startsWith("invoker") && topic.length > 7 && topic.substring(7).forall(_.isDigit)) Invoker(topic.substring(7).toInt)
    else if (topic.startsWith("completed") && Wire.isValidId(topic.substring(9))) Completed(topic.substring(9))
    else if (broadcasts(topic)) Broadcast(topic)
    else throw new IllegalArgumentException(s"topic '$topic' is not one Sluice serves: invoker<N>, completed<C>, health, cacheInvalidation or events")
  }
}

/** The send failed because the message is larger than the broker takes; its cause is what OpenWhisk's invoker looks for before it shrinks an acknowledgement and sends it again. */
final class MessageTooLargeException(message: String) extends RuntimeException(message, new RecordTooLargeException(message))

/**
 * Sluice as OpenWhisk's message bus, for one process: a controller session once
 * `completed<C>` is consumed, an invoker session once `invoker<N>` is consumed
 * (docs/TOPICS.md maps each topic). OpenWhisk loads [[SluiceMessagingProvider]]; tests make
 * several connectors in one JVM.
 */
final class SluiceConnector(val settings: Settings) {
  private val log = Logger.getLogger("org.sluice.openwhisk")
  private val inboxes = new ConcurrentHashMap[String, LinkedBlockingQueue[Array[Byte]]]()
  private val controller = new AtomicReference[ControllerSession]()
  private val controllerId = new AtomicReference[String]()
  private val invoker = new AtomicReference[InvokerSession]()
  private val invokerInstance = new AtomicReference[Integer]()
  private val drained = new AtomicReference[java.lang.Boolean](false)
  private val offsets = new ConcurrentHashMap[String, AtomicLong]()
  /** Sent and not answered; then answered and kept (at most 65,536) for a COMPLETED notice. */
  private val pending = new ConcurrentHashMap[String, SentActivation]()
  /** Activations published through [[activate]] (broker placement): their answers complete these, not `completed<C>`. */
  private val waiters = new ConcurrentHashMap[String, scala.concurrent.Promise[Array[Byte]]]()
  private val answered = java.util.Collections.synchronizedMap(new java.util.LinkedHashMap[String, SentActivation](1024, 0.75f, false) {
    override def removeEldestEntry(eldest: java.util.Map.Entry[String, SentActivation]): Boolean = size > 65536
  })

  private def inbox(topic: String) = {
    val fresh = new LinkedBlockingQueue[Array[Byte]]()
    val existing = inboxes.putIfAbsent(topic, fresh)
    if (existing == null) fresh else existing
  }

  def nextOffset(topic: String): Long = {
    offsets.putIfAbsent(topic, new AtomicLong(0))
    offsets.get(topic).getAndIncrement()
  }

  private def subscribeAll(session: org.sluice.client.Session): Unit =
    inboxes.keySet.asScala.filter(t => Topic.parse(t).toOption.exists(_.isInstanceOf[Topic.Broadcast])).foreach(session.subscribe)

  private def startController(id: String): ControllerSession = synchronized {
    Option(controller.get).foreach { existing =>
      require(controllerId.get == id, s"this process is controller '${controllerId.get}'; it cannot consume completed$id")
      return existing
    }
    val session = new ControllerSession(id, settings.controllerEndpoint, true, new ControllerSession.Listener {
      def answer(a: ControllerSession.Answer): Unit = {
        val sent = Option(pending.remove(a.activationId))
        sent.foreach(s => answered.put(a.activationId, s))
        val bytes = if (a.result.nonEmpty) a.result
                    else OpenWhiskJson.brokerDecided(a.activationId, a.kindName, a.invokerId, a.reason, sent, System.currentTimeMillis).getBytes("UTF-8")
        Option(waiters.remove(a.activationId)) match {
          case Some(waiter) => waiter.trySuccess(bytes)
          case None         => inbox("completed" + id).add(bytes)
        }
      }
      override def completed(n: ControllerSession.Completed): Unit = {
        val sent = Option(answered.remove(n.activationId))
        OpenWhiskJson.completion(n.activationId, n.invokerId, n.systemError, n.cause, sent, System.currentTimeMillis)
          .foreach(json => inbox("completed" + id).add(json.getBytes("UTF-8")))
      }
      override def publication(topic: String, origin: String, payload: Array[Byte]): Unit = Option(inboxes.get(topic)).foreach(_.add(payload))
      override def error(code: Int, ref: String, reason: String): Unit = log.warning(s"broker error $code ($ref): $reason")
    })
    controllerId.set(id)
    launch(session, settings.controllerEndpoint, controller)
  }

  /** Subscribes a new session to the broadcast topics consumed so far, starts it and waits (10 s at most) for its WELCOME. */
  private def launch[S <: org.sluice.client.Session](session: S, endpoint: String, holder: AtomicReference[S]): S = {
    subscribeAll(session)
    session.start()
    if (!session.awaitWelcome(10000)) log.warning(s"no WELCOME from the broker at $endpoint within 10 s; still trying")
    holder.set(session)
    session
  }

  private def startInvoker(instance: Int): InvokerSession = synchronized {
    Option(invoker.get).foreach { existing =>
      require(invokerInstance.get == instance, s"this process is invoker ${invokerInstance.get}; it cannot consume invoker$instance")
      return existing
    }
    val feed = inbox("invoker" + instance)
    val session = new InvokerSession("invoker" + instance, settings.invokerEndpoint, settings.invokerMemoryMB, settings.invokerSlots, null, null,
      new InvokerSession.Listener {
        def dispatch(header: RoutingHeader, payload: Array[Byte]): Unit = feed.add(payload)
        override def publication(topic: String, origin: String, payload: Array[Byte]): Unit = Option(inboxes.get(topic)).foreach(_.add(payload))
        override def error(code: Int, ref: String, reason: String): Unit = log.warning(s"broker error $code ($ref): $reason")
      })
    invokerInstance.set(instance)
    launch(session, settings.invokerEndpoint, invoker)
  }

  def consumer(topic: String, maxPeek: Int): MessageConsumer = {
    Topic.parse(topic).get match {
      case Topic.Completed(id) => startController(id)
      case Topic.Invoker(n)    => startInvoker(n)
      case Topic.Broadcast(name) =>
        inbox(name)
        Option(controller.get).foreach(_.subscribe(name))
        Option(invoker.get).foreach(_.subscribe(name))
    }
    new SluiceConsumer(this, topic, inbox(topic), maxPeek)
  }

  def closeConsumer(topic: String): Unit = {
    inboxes.remove(topic)
    Topic.parse(topic).toOption.collect { case Topic.Broadcast(name) =>
      Option(controller.get).foreach(_.unsubscribe(name))
      Option(invoker.get).foreach(_.unsubscribe(name))
    }
  }

  /** One message on `topic`; fails with a clear error, never half-sent. */
  def send(topic: String, bytes: Array[Byte]): Try[ResultMetadata] = Try {
    val parsed = Topic.parse(topic).get
    val session: org.sluice.client.Session = parsed match {
      case _: Topic.Invoker => Option(controller.get).getOrElse(throw new IllegalStateException(
        s"send on $topic needs the controller session: consume completed<C> first (the controller id comes from it)"))
      case _ => Option(invoker.get).orElse(Option(controller.get)).getOrElse(throw new IllegalStateException(
        s"send on $topic needs a session: consume invoker<N> or completed<C> first"))
    }
    if (bytes.length > session.maxMessageBytes) {
      throw new MessageTooLargeException(s"message on $topic is ${bytes.length} bytes; the broker takes at most ${session.maxMessageBytes} (max-message): shrink it and send again")
    }
    parsed match {
      case Topic.Invoker(n) =>
        val (header, sent) = OpenWhiskJson.activation(bytes, settings.hints, n, settings.placement == "direct")
        pending.put(header.activationId, sent)
        controller.get.activate(header, bytes)
      case Topic.Completed(_) =>
        val session = Option(invoker.get).getOrElse(throw new IllegalStateException(s"only invokers send on $topic: consume invoker<N> first"))
        OpenWhiskJson.acknowledgement(bytes) match {
          case Combined(id, systemError, outcome) => session.completion(id, bytes, outcome, systemError)
          case Completion(id, systemError)        => session.completion(id, null, 0, systemError)
          case ResultOnly(id, outcome)            => session.result(id, outcome, bytes)
        }
      case Topic.Broadcast("health") if invoker.get != null =>
        val (instance, enabled) = OpenWhiskJson.ping(bytes)
        require(instance == invokerInstance.get, s"ping from invoker $instance, but this process is invoker ${invokerInstance.get}")
        // isEnabled false drains (work in flight finishes); true restores the configured capacity.
        if (drained.getAndSet(!enabled) != !enabled) {
          if (enabled) invoker.get.capacity(settings.invokerMemoryMB, settings.invokerSlots) else invoker.get.capacity(0, 0)
        }
        invoker.get.publish("health", bytes)
      case Topic.Broadcast(name) => session.publish(name, bytes)
    }
    ResultMetadata(topic, 0, nextOffset(topic))
  }

  /**
   * Publishes an ActivationMessage for the broker to place (no target invoker), with the
   * action's own limits, as a `LoadBalancer` that hands placement to the broker does
   * (docs/OPENWHISK-CONNECTOR.md). The future completes with the acknowledgement OpenWhisk
   * would have read on `completed<C>`: the invoker's, or the one written for an answer Sluice
   * decided; it fails at once if the message cannot be sent.
   */
  def activate(bytes: Array[Byte], memoryMB: Long, timeLimitMillis: Long): Future[Array[Byte]] = Try {
    val session = Option(controller.get).getOrElse(throw new IllegalStateException("no controller session: start it with consumer(\"completed<C>\") first"))
    if (bytes.length > session.maxMessageBytes) {
      throw new MessageTooLargeException(s"activation is ${bytes.length} bytes; the broker takes at most ${session.maxMessageBytes} (max-message)")
    }
    val (header, sent) = OpenWhiskJson.activation(bytes, Hints(memoryMB, timeLimitMillis), -1, direct = false)
    val promise = scala.concurrent.Promise[Array[Byte]]()
    waiters.put(header.activationId, promise)
    pending.put(header.activationId, sent)
    session.activate(header, bytes)
    promise.future
  } match {
    case Success(future) => future
    case Failure(error)  => Future.failed(error)
  }

  /** The broker's invokers now (INVOKERS, PROTOCOL.md §10.1), through the controller session. */
  def inventory(): java.util.concurrent.CompletableFuture[ControllerSession.Inventory] =
    Option(controller.get).map(_.inventory()).getOrElse(throw new IllegalStateException("no controller session: consume completed<C> first"))

  def close(): Unit = {
    Option(controller.getAndSet(null)).foreach(_.close())
    Option(invoker.getAndSet(null)).foreach(_.close())
  }
}

final class SluiceProducer(connector: SluiceConnector) extends MessageProducer {
  private val sent = new AtomicLong(0)

  override def sentCount(): Long = sent.get

  override def send(topic: String, msg: Message, retry: Int = 0): Future[ResultMetadata] =
    connector.send(topic, msg.serialize.getBytes("UTF-8")) match {
      case Success(metadata) =>
        sent.incrementAndGet()
        Future.successful(metadata)
      case Failure(error) => Future.failed(error)
    }

  override def close(): Unit = ()
}

/** At most once: what `peek` returns is gone, committed or not (docs/TOPICS.md). */
final class SluiceConsumer(connector: SluiceConnector, topic: String, queue: LinkedBlockingQueue[Array[Byte]], override val maxPeek: Int)
    extends MessageConsumer {
  private val offset = new AtomicLong(0)

  override def peek(duration: FiniteDuration, retry: Int = 3): Iterable[(String, Int, Long, Array[Byte])] = {
    val first = queue.poll(duration.toMillis, TimeUnit.MILLISECONDS)
    if (first == null) return Nil
    val batch = new java.util.ArrayList[Array[Byte]]()
    batch.add(first)
    queue.drainTo(batch, math.max(0, maxPeek - 1))
    batch.asScala.map(bytes => (topic, 0, offset.getAndIncrement(), bytes)).toList
  }

  override def commit(retry: Int = 3): Unit = ()

  override def close(): Unit = connector.closeConsumer(topic)
}

/** The `MessagingProvider` OpenWhisk loads (`whisk.spi.MessagingProvider = org.sluice.openwhisk.SluiceMessagingProvider`). */
object SluiceMessagingProvider extends MessagingProvider {
  lazy val connector = new SluiceConnector(Settings.fromEnvironment())

  override def getConsumer(config: WhiskConfig, groupId: String, topic: String, maxPeek: Int = Int.MaxValue,
                           maxPollInterval: FiniteDuration = 5.minutes)(implicit logging: Logging, actorSystem: ActorSystem): MessageConsumer =
    connector.consumer(topic, maxPeek)

  override def getProducer(config: WhiskConfig, maxRequestSize: Option[ByteSize] = None)(
    implicit logging: Logging, actorSystem: ActorSystem): MessageProducer = new SluiceProducer(connector)

  override def ensureTopic(config: WhiskConfig, topic: String, topicConfig: String, maxMessageBytes: Option[ByteSize] = None)(
    implicit logging: Logging): Try[Unit] = Topic.parse(topic).map(_ => ())
}
