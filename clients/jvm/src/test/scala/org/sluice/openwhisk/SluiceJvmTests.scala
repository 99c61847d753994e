package org.sluice.openwhisk

import java.nio.charset.StandardCharsets.UTF_8
import java.util.concurrent.{LinkedBlockingQueue, TimeUnit}
import scala.concurrent.Await
import scala.concurrent.duration.DurationInt
import scala.util.{Failure, Success, Try}

import org.apache.kafka.common.errors.RecordTooLargeException
import org.apache.openwhisk.core.connector.{Message, MessageConsumer}
import org.sluice.client.{ControllerSession, InvokerSession, RoutingHeader}

/** An OpenWhisk message: its JSON, as OpenWhisk's own Message classes serialize. */
final case class Msg(json: String) extends Message { def serialize: String = json }

/**
 * The JVM connector against a real `sluice broker` (started by clients/jvm/test.sh, endpoints as
 * arguments; its max-message is 65536). Every check waits on what a peer observes, never on
 * time alone. Prints one line per test and a closing "N passed, N failed"; exits 1 on a failure.
 */
object SluiceJvmTests {
  var controllerEndpoint = ""
  var invokerEndpoint = ""
  var classPath = ""

  def hex(n: Int): String = f"$n%032x"

  def activationMessage(id: String, controller: String = "0"): String =
    s"""{"transid":["tid-$id",1700000000000],"action":{"path":"guest","name":"hello","version":"0.0.1"},""" +
    s""""revision":"1-abc","user":{"subject":"guest-subject","namespace":{"name":"guest","uuid":"u"},"authkey":{"api_key":"k"},""" +
    s""""rights":[],"limits":{}},"activationId":"$id","rootControllerIndex":{"asString":"$controller","instanceType":"controller"},""" +
    s""""blocking":true,"content":{"n":1},"initArgs":[],"lockedArgs":{}}"""

  def invokerId(n: Int) = s"""{"instance":$n,"userMemory":"2048 MB","instanceType":"invoker","tags":[],"dedicatedNamespaces":[]}"""
  def record(id: String, statusCode: Int = 0, blob: String = "") =
    s"""{"activationId":"$id","namespace":"guest","name":"hello","subject":"guest-subject","start":1,"end":2,""" +
    s""""response":{"statusCode":$statusCode,"result":{"ok":true$blob}},"logs":[],"version":"0.0.1","publish":false,"annotations":[]}"""
  def combined(id: String, n: Int, blob: String = "") =
    s"""{"transid":["tid-$id",1700000000000],"response":${record(id, 0, blob)},"isSystemError":false,"instance":${invokerId(n)}}"""
  def result(id: String) = s"""{"transid":["tid-$id",1700000000000],"response":${record(id)}}"""
  def completion(id: String, n: Int) = s"""{"transid":["tid-$id",1700000000000],"activationId":"$id","isSystemError":false,"instance":${invokerId(n)}}"""
  def ping(n: Int, enabled: Boolean) = s"""{"name":${invokerId(n)},"isEnabled":$enabled}"""

  def settings = Settings(controllerEndpoint = controllerEndpoint, invokerEndpoint = invokerEndpoint, invokerMemoryMB = 2048, invokerSlots = 4)

  def check(condition: Boolean, what: => String): Unit = if (!condition) throw new AssertionError(what)

  def peekOne(consumer: MessageConsumer, seconds: Int = 10): String = {
    val got = consumer.peek(seconds.seconds)
    check(got.size == 1, s"expected one message within $seconds s, got ${got.size}")
    new String(got.head._4, UTF_8)
  }

  /** Sends until `received` holds (a broadcast can overtake the SUBSCRIBE that makes it heard), at most 10 s. */
  def untilHeard(send: () => Unit)(received: => Boolean): Unit = {
    val deadline = System.nanoTime + 10000000000L
    send()
    while (!received) {
      check(System.nanoTime < deadline, "not heard within 10 s")
      send()
    }
  }

  def withConnectors[T](count: Int)(body: Seq[SluiceConnector] => T): T = {
    val connectors = (0 until count).map(_ => new SluiceConnector(settings))
    try body(connectors) finally connectors.foreach(_.close())
  }

  val tests: Seq[(String, () => Unit)] = Seq(
    "Java sessions: a JVM controller and a JVM invoker; answer bytes unchanged, COMPLETED after a split completion, INVENTORY" -> (() => {
      val answers = new LinkedBlockingQueue[ControllerSession.Answer]()
      val notices = new LinkedBlockingQueue[ControllerSession.Completed]()
      val holder = new Array[InvokerSession](1)
      holder(0) = new InvokerSession("jvm-inv", invokerEndpoint, 1024, 2, null, null, new InvokerSession.Listener {
        def dispatch(h: RoutingHeader, payload: Array[Byte]): Unit = {
          holder(0).result(h.activationId, 0, ("result-of:" + new String(payload, UTF_8)).getBytes(UTF_8))
          holder(0).completion(h.activationId, null, 0, false)
        }
      })
      val controller = new ControllerSession("jvm-ctl", controllerEndpoint, true, new ControllerSession.Listener {
        def answer(a: ControllerSession.Answer): Unit = answers.add(a)
        override def completed(n: ControllerSession.Completed): Unit = notices.add(n)
      })
      try {
        holder(0).start(); controller.start()
        check(holder(0).awaitWelcome(10000) && controller.awaitWelcome(10000), "both welcomed")
        controller.activate(new RoutingHeader("jvm-1", "guest", "guest/hello", "", 256, 60000, true, false, "jvm-inv", "", null, 0), "payload".getBytes(UTF_8))
        val answer = answers.poll(10, TimeUnit.SECONDS)
        check(answer != null && answer.kindName == "success" && new String(answer.result, UTF_8) == "result-of:payload" && answer.invokerId == "jvm-inv",
              s"answer: ${Option(answer).map(a => a.kindName + " " + new String(a.result, UTF_8))}")
        val notice = notices.poll(10, TimeUnit.SECONDS)
        check(notice != null && notice.activationId == "jvm-1" && notice.cause == 0, "COMPLETED after the completion")
        val inventory = controller.inventory().get(10, TimeUnit.SECONDS)
        check(inventory.invokers.size == 1 && inventory.invokers.get(0).invokerId == "jvm-inv" && inventory.invokers.get(0).slots == 2, "inventory")
      } finally { controller.close(); holder(0).close() }
    }),

    "Provider: invoker<N> carries the ActivationMessage byte for byte; a combined acknowledgement comes back unchanged" -> (() => withConnectors(2) { case Seq(c, i) =>
      val completed = c.consumer("completed0", 128)
      val feed = i.consumer("invoker0", 16)
      val producer = new SluiceProducer(c)
      Await.result(producer.send("invoker0", Msg(activationMessage(hex(1)))), 10.seconds)
      check(peekOne(feed) == activationMessage(hex(1)), "activation unchanged")
      Await.result(new SluiceProducer(i).send("completed0", Msg(combined(hex(1), 0))), 10.seconds)
      check(peekOne(completed) == combined(hex(1), 0), "acknowledgement unchanged")
      check(producer.sentCount() == 1, "sentCount")
    }),

    "Provider: a split acknowledgement reaches the controller as the result, then the completion that frees the slot" -> (() => withConnectors(2) { case Seq(c, i) =>
      val completed = c.consumer("completed0", 128)
      val feed = i.consumer("invoker1", 16)
      Await.result(new SluiceProducer(c).send("invoker1", Msg(activationMessage(hex(2)))), 10.seconds)
      peekOne(feed)
      Await.result(new SluiceProducer(i).send("completed0", Msg(result(hex(2)))), 10.seconds)
      check(peekOne(completed) == result(hex(2)), "the result, unchanged")
      Await.result(new SluiceProducer(i).send("completed0", Msg(completion(hex(2), 1))), 10.seconds)
      val second = peekOne(completed)
      check(OpenWhiskJson.acknowledgement(second.getBytes(UTF_8)) == Completion(hex(2), false), s"a CompletionMessage: $second")
      check(second.contains("\"transid\":[\"tid-" + hex(2) + "\",1700000000000]") && second.contains("\"instance\":1"), second)
    }),

    "Provider: a broker-decided answer is a combined acknowledgement OpenWhisk reads: record says why, booked invoker named, full instance id" -> (() => withConnectors(1) { case Seq(c) =>
      val completed = c.consumer("completed0", 128)
      Await.result(new SluiceProducer(c).send("invoker7", Msg(activationMessage(hex(3)))), 10.seconds)
      val ack = peekOne(completed)
      check(OpenWhiskJson.acknowledgement(ack.getBytes(UTF_8)) == Combined(hex(3), false, 1), s"rejected, not the invoker's fault: $ack")
      for (part <- Seq("\"instance\":7", "\"tags\":[]", "\"dedicatedNamespaces\":[]", "\"userMemory\":", "\"subject\":\"guest-subject\"", "\"statusCode\":1", "invoker7"))
        check(ack.contains(part), s"$part in $ack")
    }),

    "Provider: health pings fan out unchanged; isEnabled false drains the invoker, true restores it" -> (() => withConnectors(2) { case Seq(c, i) =>
      c.consumer("completed0", 128)
      val health = c.consumer("health", 128)
      val feed = i.consumer("invoker2", 16)
      val pings = new SluiceProducer(i)
      var heard = Seq.empty[String]
      untilHeard(() => Await.result(pings.send("health", Msg(ping(2, enabled = true))), 10.seconds)) {
        heard ++= health.peek(200.millis).map(m => new String(m._4, UTF_8)); heard.nonEmpty
      }
      check(heard.forall(_ == ping(2, enabled = true)), "pings unchanged")
      Await.result(pings.send("health", Msg(ping(2, enabled = false))), 10.seconds)
      val drainedDeadline = System.nanoTime + 10000000000L
      while (c.inventory().get(10, TimeUnit.SECONDS).invokers.get(0).health != 3) check(System.nanoTime < drainedDeadline, "drained within 10 s")
      Await.result(new SluiceProducer(c).send("invoker2", Msg(activationMessage(hex(4)))), 10.seconds)
      check(feed.peek(700.millis).isEmpty, "a drained invoker gets no new work")
      Await.result(pings.send("health", Msg(ping(2, enabled = true))), 10.seconds)
      check(peekOne(feed) == activationMessage(hex(4)), "restored: the waiting activation is delivered")
    }),

    "Provider: cacheInvalidation fans out to every controller, the sender included" -> (() => withConnectors(2) { case Seq(c0, c1) =>
      c0.consumer("completed0", 128); c1.consumer("completed1", 128)
      val caches = Seq(c0.consumer("cacheInvalidation", 128), c1.consumer("cacheInvalidation", 128))
      val message = """{"key":{"mainId":"guest/hello"},"instanceId":"controller0"}"""
      val got = Array(Seq.empty[String], Seq.empty[String])
      untilHeard(() => Await.result(new SluiceProducer(c0).send("cacheInvalidation", Msg(message)), 10.seconds)) {
        for (k <- 0 to 1) got(k) ++= caches(k).peek(200.millis).map(m => new String(m._4, UTF_8))
        got.forall(_.nonEmpty)
      }
      check(got.forall(_.forall(_ == message)), "unchanged")
    }),

    "Provider: a message over max-message fails the send (cause RecordTooLargeException, so OpenWhisk shrinks it); the shrunk one goes through" -> (() => withConnectors(2) { case Seq(c, i) =>
      val completed = c.consumer("completed0", 128)
      val feed = i.consumer("invoker3", 16)
      Await.result(new SluiceProducer(c).send("invoker3", Msg(activationMessage(hex(5)))), 10.seconds)
      peekOne(feed)
      val big = combined(hex(5), 3, ",\"blob\":\"" + "x" * 70000 + "\"")
      Try(Await.result(new SluiceProducer(i).send("completed0", Msg(big)), 10.seconds)) match {
        case Failure(e: MessageTooLargeException) => check(e.getCause.isInstanceOf[RecordTooLargeException] && e.getMessage.contains("65536"), e.getMessage)
        case other => throw new AssertionError(s"expected MessageTooLargeException, got $other")
      }
      val shrunk = s"""{"transid":["tid-${hex(5)}",1700000000000],"response":"${hex(5)}","isSystemError":false,"instance":${invokerId(3)}}"""
      Await.result(new SluiceProducer(i).send("completed0", Msg(shrunk)), 10.seconds)
      check(peekOne(completed) == shrunk, "the shrunk acknowledgement, on the same session")
    }),

    "Broker placement (LoadBalancer building blocks): publish with the action's limits, the broker places; the future gets the acknowledgement; invokerHealth and clusterSize from INVENTORY" -> (() => withConnectors(3) { case Seq(c, other, i) =>
      import scala.concurrent.ExecutionContext.Implicits.global
      c.consumer("completed0", 128)
      other.consumer("completed1", 128)
      val feed = i.consumer("invoker4", 16)
      val balancer = new SluiceBalancer(c, 10.seconds)
      val answer = balancer.publish(activationMessage(hex(7)).getBytes(UTF_8), 512, 30000)
      check(peekOne(feed) == activationMessage(hex(7)), "placed by the broker on the only invoker")
      Await.result(new SluiceProducer(i).send("completed0", Msg(combined(hex(7), 4))), 10.seconds)
      check(new String(Await.result(answer, 10.seconds), UTF_8) == combined(hex(7), 4), "the publish future completes with the acknowledgement")
      val tooBig = balancer.publish(activationMessage(hex(8)).getBytes(UTF_8), 4096, 30000)
      check(OpenWhiskJson.acknowledgement(Await.result(tooBig, 10.seconds)) == Combined(hex(8), false, 1), "larger than every invoker: rejected, as OpenWhisk reads it")
      val health = Await.result(balancer.invokerHealth(), 10.seconds)
      check(health == IndexedSeq(InvokerView(4, 2048, Nil, Nil, "up")), s"invokerHealth: $health")
      check(balancer.clusterSize == 2, s"clusterSize counts the connected controllers: ${balancer.clusterSize}")
      Await.result(new SluiceProducer(i).send("health", Msg(ping(4, enabled = false))), 10.seconds)
      val deadline = System.nanoTime + 10000000000L
      while (Await.result(balancer.invokerHealth(), 10.seconds).map(_.state) != IndexedSeq("down")) check(System.nanoTime < deadline, "down once disabled")
    }),

    "Provider: a JVM invoker process killed while running an activation: OpenWhisk's controller reads invokerLost, charged to that invoker" -> (() => withConnectors(1) { case Seq(c) =>
      val completed = c.consumer("completed0", 128)
      val child = new ProcessBuilder("java", "-cp", classPath, "org.sluice.openwhisk.HoldingInvoker", invokerEndpoint, "5").redirectErrorStream(true).start()
      try {
        val out = new java.io.BufferedReader(new java.io.InputStreamReader(child.getInputStream, UTF_8))
        check(out.readLine() == "ready", "the child invoker connected")
        Await.result(new SluiceProducer(c).send("invoker5", Msg(activationMessage(hex(6)))), 10.seconds)
        check(out.readLine() == "got " + hex(6), "the child got the activation")
        child.destroyForcibly()
        val ack = peekOne(completed, 20)
        check(OpenWhiskJson.acknowledgement(ack.getBytes(UTF_8)) == Combined(hex(6), true, 2), s"invokerLost, a system error: $ack")
        check(ack.contains("\"instance\":5") && ack.contains("invokerLost") && ack.contains("\"statusCode\":3"), ack)
      } finally child.destroyForcibly()
    })
  )

  def main(args: Array[String]): Unit = {
    controllerEndpoint = args(0)
    invokerEndpoint = args(1)
    classPath = System.getProperty("java.class.path")
    var passed = 0
    var failed = 0
    for ((name, test) <- tests) {
      val started = System.nanoTime
      Try(test()) match {
        case Success(_) =>
          passed += 1
          println(f"PASS  $name (${(System.nanoTime - started) / 1e9}%.1f s)")
        case Failure(e) =>
          failed += 1
          println(s"FAIL  $name: $e")
          e.printStackTrace(System.out)
      }
    }
    println(s"$passed passed, $failed failed")
    sys.exit(if (failed == 0) 0 else 1)
  }
}

/** A JVM invoker that takes activations and never finishes them: the process the test kills. */
object HoldingInvoker {
  def main(args: Array[String]): Unit = {
    val connector = new SluiceConnector(Settings(invokerEndpoint = args(0), invokerMemoryMB = 1024, invokerSlots = 2))
    val feed = connector.consumer("invoker" + args(1), 4)
    println("ready")
    while (true) {
      for (message <- feed.peek(1.second)) {
        val id = OpenWhiskJson.activation(message._4, Hints(), args(1).toInt, true)._1.activationId
        println("got " + id)
      }
    }
  }
}
