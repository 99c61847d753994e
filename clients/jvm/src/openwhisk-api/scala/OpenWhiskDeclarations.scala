// COMPILE-ONLY declarations of the parts of Apache OpenWhisk (and the Pekko and Kafka classes
// its signatures name) that the Sluice connector implements or mentions. OpenWhisk's jars cannot
// be fetched on this machine, so the connector is compiled against these. Every signature the
// connector overrides or calls is written exactly as in apache/openwhisk master (commit
// 1fae641a): common/scala/src/main/scala/org/apache/openwhisk/core/connector/
// MessagingProvider.scala, MessageProducer.scala, MessageConsumer.scala, Message.scala, and
// spi/SpiLoader.scala. Bodies and everything else are placeholders. These classes are never
// packaged into the connector's jar: inside OpenWhisk the real ones are used.

package org.apache.openwhisk.spi {
  trait Spi
}

package org.apache.openwhisk.common {
  /** Placeholder: the connector takes OpenWhisk's Logging implicitly and does not call it. */
  trait Logging
  class TransactionId
  object TransactionId { val unknown = new TransactionId }
}

package org.apache.openwhisk.core {
  /** Placeholder: the connector reads its settings from system properties and the environment. */
  class WhiskConfig
}

package org.apache.openwhisk.core.entity {
  /** Placeholder: only passed through. */
  class ByteSize
}

package org.apache.openwhisk.core.connector {
  import scala.concurrent.Future
  import scala.concurrent.duration.{DurationInt, FiniteDuration}
  import scala.util.Try
  import org.apache.pekko.actor.ActorSystem
  import org.apache.openwhisk.common.{Logging, TransactionId}
  import org.apache.openwhisk.core.WhiskConfig
  import org.apache.openwhisk.core.entity.ByteSize
  import org.apache.openwhisk.spi.Spi

  trait Message {
    val transid: TransactionId = TransactionId.unknown
    def serialize: String
    override def toString = serialize
  }

  case class ResultMetadata(topic: String, partition: Int, offset: Long)

  trait MessageProducer {
    def sentCount(): Long
    def send(topic: String, msg: Message, retry: Int = 0): Future[ResultMetadata]
    def close(): Unit
  }

  trait MessageConsumer {
    val maxPeek: Int
    def peek(duration: FiniteDuration, retry: Int = 3): Iterable[(String, Int, Long, Array[Byte])]
    def commit(retry: Int = 3): Unit
    def close(): Unit
  }

  trait MessagingProvider extends Spi {
    def getConsumer(
      config: WhiskConfig,
      groupId: String,
      topic: String,
      maxPeek: Int = Int.MaxValue,
      maxPollInterval: FiniteDuration = 5.minutes)(implicit logging: Logging, actorSystem: ActorSystem): MessageConsumer
    def getProducer(config: WhiskConfig, maxRequestSize: Option[ByteSize] = None)(
      implicit logging: Logging,
      actorSystem: ActorSystem): MessageProducer
    def ensureTopic(config: WhiskConfig, topic: String, topicConfig: String, maxMessageBytes: Option[ByteSize] = None)(
      implicit logging: Logging): Try[Unit]
  }
}

package org.apache.pekko.actor {
  /** Placeholder (OpenWhisk master runs on Pekko; 2.0.0 on Akka: akka.actor.ActorSystem). */
  class ActorSystem
}

package org.apache.kafka.common.errors {
  /** Placeholder for kafka-clients' class, which OpenWhisk's invoker looks for as the cause of a
    * failed acknowledgement send before it shrinks the acknowledgement and sends it again
    * (core/ack/MessagingActiveAck.scala). kafka-clients is on OpenWhisk's class path. */
  class RecordTooLargeException(message: String) extends RuntimeException(message)
}
