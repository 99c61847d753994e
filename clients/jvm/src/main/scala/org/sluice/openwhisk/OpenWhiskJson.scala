package org.sluice.openwhisk

import java.util.{List => JList, Map => JMap}
import scala.collection.JavaConverters._
import org.sluice.client.{Json, RoutingHeader}

/** A message the connector cannot read: names the field, as OpenWhisk's own readers would. */
final class OpenWhiskMessageException(val field: String, problem: String) extends IllegalArgumentException(s"$field: $problem")

/** The transaction id `[id, startMillis(, extraLogging)]`, kept as its JSON text to echo it exactly. */
final case class TransactionJson(json: String)

/** What a controller remembers of an ActivationMessage it sent (see the Swift SentActivation). */
final case class SentActivation(transid: TransactionJson, subject: String, namespace: String, actionPath: String,
                                actionName: String, actionVersion: String, blocking: Boolean, bookedInvoker: Int, sentAtMillis: Long)

/** An acknowledgement as OpenWhisk's reader classifies it (Message.scala, AcknowledgementMessage.serdes). */
sealed trait Acknowledgement { def activationId: String }
final case class Combined(activationId: String, isSystemError: Boolean, outcome: Int) extends Acknowledgement
final case class Completion(activationId: String, isSystemError: Boolean) extends Acknowledgement
final case class ResultOnly(activationId: String, outcome: Int) extends Acknowledgement

object OpenWhiskJson {
  private type Obj = JMap[String, AnyRef]

  private def parseObject(bytes: Array[Byte]): Obj =
    try {
      Json.parse(new String(bytes, "UTF-8")) match {
        case o: JMap[_, _] => o.asInstanceOf[Obj]
        case _             => throw new OpenWhiskMessageException("", "expected a JSON object")
      }
    } catch {
      case e: IllegalArgumentException if !e.isInstanceOf[OpenWhiskMessageException] => throw new OpenWhiskMessageException("", e.getMessage)
    }

  private def field(o: Obj, key: String, path: String): AnyRef = {
    val v = o.get(key)
    if (v == null || v == Json.NULL) throw new OpenWhiskMessageException(path + key, "missing")
    v
  }
  private def str(o: Obj, key: String, path: String = ""): String = field(o, key, path) match {
    case s: String => s
    case _         => throw new OpenWhiskMessageException(path + key, "expected a string")
  }
  private def obj(o: Obj, key: String, path: String = ""): Obj = field(o, key, path) match {
    case m: JMap[_, _] => m.asInstanceOf[Obj]
    case _             => throw new OpenWhiskMessageException(path + key, "expected an object")
  }
  private def bool(o: Obj, key: String): Option[Boolean] = o.get(key) match {
    case null                       => None
    case b: java.lang.Boolean       => Some(b.booleanValue)
    case n if n == Json.NULL        => None
    case _                          => throw new OpenWhiskMessageException(key, "expected a boolean")
  }
  private def activationId(value: AnyRef, path: String): String = value match {
    case s: String if s.length == 32 && s.forall(c => (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) => s
    case _ => throw new OpenWhiskMessageException(path, "expected 32 lowercase hexadecimal characters")
  }

  /** The JSON text of `transid`, unchanged in meaning: `[id, start]` or `[id, start, true]`. */
  private def transid(o: Obj): TransactionJson = field(o, "transid", "") match {
    case l: JList[_] if l.size >= 2 && l.get(0).isInstanceOf[String] && l.get(1).isInstanceOf[java.lang.Number] =>
      val extra = if (l.size >= 3 && l.get(2) == java.lang.Boolean.TRUE) ",true" else ""
      TransactionJson("[" + Json.quote(l.get(0).asInstanceOf[String]) + "," + l.get(1).asInstanceOf[java.lang.Number].longValue + extra + "]")
    case _ => throw new OpenWhiskMessageException("transid", "expected [id, startMillis]")
  }

  /** The routing header (docs/TOPICS.md) and what to remember, from an ActivationMessage. */
  def activation(bytes: Array[Byte], hints: Hints, bookedInvoker: Int, direct: Boolean): (RoutingHeader, SentActivation) = {
    val o = parseObject(bytes)
    val tid = transid(o)
    val id = activationId(field(o, "activationId", ""), "activationId")
    val (path, name, version) = field(o, "action", "") match {
      case s: String =>
        val trimmed = s.stripPrefix("/").stripSuffix("/")
        val slash = trimmed.lastIndexOf('/')
        if (slash <= 0) throw new OpenWhiskMessageException("action", "expected 'namespace/[package/]name'")
        (trimmed.substring(0, slash), trimmed.substring(slash + 1), None)
      case m: JMap[_, _] =>
        val a = m.asInstanceOf[Obj]
        (str(a, "path", "action.").stripPrefix("/").stripSuffix("/"), str(a, "name", "action."), Option(a.get("version")).collect { case v: String => v })
      case _ => throw new OpenWhiskMessageException("action", "expected an object")
    }
    val user = obj(o, "user")
    val subject = Option(user.get("subject")).collect { case s: String => s }.getOrElse("")
    val namespace = field(user, "namespace", "user.") match {
      case s: String     => s
      case m: JMap[_, _] => str(m.asInstanceOf[Obj], "name", "user.namespace.")
      case _             => throw new OpenWhiskMessageException("user.namespace", "expected an object")
    }
    val answerTo = field(o, "rootControllerIndex", "") match {
      case m: JMap[_, _] =>
        val r = m.asInstanceOf[Obj]
        Option(r.get("asString")).collect { case s: String => s }
          .orElse(Option(r.get("instance")).collect { case n: java.lang.Number => n.longValue.toString })
          .getOrElse(throw new OpenWhiskMessageException("rootControllerIndex.asString", "missing"))
      case s: String           => s
      case n: java.lang.Number => n.longValue.toString
      case _                   => throw new OpenWhiskMessageException("rootControllerIndex", "expected an object")
    }
    val blocking = bool(o, "blocking").getOrElse(throw new OpenWhiskMessageException("blocking", "missing"))
    val revision = o.get("revision") match {
      case s: String => s.trim
      case _         => ""
    }
    val header = new RoutingHeader(id, namespace, path + "/" + name, revision, hints.memoryMB, hints.timeLimitMillis, blocking, false,
                                   if (direct) "invoker" + bookedInvoker else "", answerTo, null, 0)
    (header, SentActivation(tid, subject, namespace, path, name, version.getOrElse("0.0.1"), blocking, bookedInvoker, System.currentTimeMillis))
  }

  /** OpenWhisk's status code to a SLU/1 outcome: 0 success; 1, 2 application error; 3 system error. */
  def outcome(statusCode: Option[Long]): Int = statusCode match {
    case Some(1L) | Some(2L) => 1
    case Some(3L)            => 2
    case _                   => 0
  }

  /** Classifies an acknowledgement as OpenWhisk does: by which of `instance` and `response` it has. */
  def acknowledgement(bytes: Array[Byte]): Acknowledgement = {
    val o = parseObject(bytes)
    transid(o)
    val hasInstance = o.containsKey("instance")
    val declared = bool(o, "isSystemError")
    if (hasInstance && !o.containsKey("response")) {
      return Completion(activationId(field(o, "activationId", ""), "activationId"), declared.getOrElse(false))
    }
    val (id, statusCode) = field(o, "response", "") match {
      case s: String => (activationId(s, "response"), None)
      case m: JMap[_, _] =>
        val record = m.asInstanceOf[Obj]
        val status = Option(record.get("response")).collect { case r: JMap[_, _] => r.asInstanceOf[Obj] }
          .flatMap(r => Option(r.get("statusCode"))).collect { case n: java.lang.Number => n.longValue }
        (activationId(field(record, "activationId", "response."), "response.activationId"), status)
      case _ => throw new OpenWhiskMessageException("response", "expected an object or an activation id")
    }
    if (hasInstance) {
      val systemError = declared.getOrElse(statusCode == Some(3L))
      Combined(id, systemError, if (statusCode.isEmpty && systemError) 2 else outcome(statusCode))
    } else ResultOnly(id, outcome(statusCode))
  }

  /** `(instance, isEnabled)` of a PingMessage: the invoker id under `name`. */
  def ping(bytes: Array[Byte]): (Int, Boolean) = {
    val o = parseObject(bytes)
    val name = obj(o, "name")
    val instance = field(name, "instance", "name.") match {
      case n: java.lang.Number => n.intValue
      case _                   => throw new OpenWhiskMessageException("name.instance", "expected a number")
    }
    (instance, bool(o, "isEnabled").getOrElse(true))
  }

  // MARK: What the connector writes (docs/TOPICS.md, "What completed<C> delivers")

  /** An `InvokerInstanceId` OpenWhisk's reader accepts (every required field). */
  def invokerInstance(instance: Int): String =
    "{\"instance\":" + instance + ",\"userMemory\":\"0 B\",\"instanceType\":\"invoker\",\"tags\":[],\"dedicatedNamespaces\":[]}"

  /** (status code, isSystemError, names the running invoker, summary) per answer kind; see TOPICS.md. */
  def rule(kind: String): Option[(Int, Boolean, Boolean, String)] = kind match {
    case "timeout"     => Some((3, true, true, "The invoker did not complete the activation in time (circuit breaker)"))
    case "invokerLost" => Some((3, true, true, "The invoker running the activation was lost"))
    case "overloaded"  => Some((3, false, false, "The system is overloaded: no invoker had room for the activation"))
    case "expired"     => Some((3, false, false, "The activation waited for an invoker longer than it may"))
    case "brokerLost"  => Some((3, false, false, "The broker holding the activation was lost; it may have run"))
    case "throttled"   => Some((1, false, false, "Too many concurrent activations in flight for the namespace"))
    case "rejected"    => Some((1, false, false, "The activation was rejected"))
    case _             => None
  }

  private def instanceOf(invokerId: String): Option[Int] =
    if (invokerId.startsWith("invoker")) scala.util.Try(invokerId.substring(7).toInt).toOption.filter(_ >= 0) else None

  /** The acknowledgement for an answer without the invoker's bytes (Swift: BrokerDecidedAcknowledgement.json). */
  def brokerDecided(activationId: String, kind: String, invokerId: String, reason: String, sent: Option[SentActivation], now: Long): String = {
    val ran = instanceOf(invokerId)
    val tid = sent.map(_.transid.json).getOrElse("[\"sid_unknown\"," + now + "]")
    rule(kind) match {
      case None =>
        val invoker = ran.orElse(sent.map(_.bookedInvoker)).getOrElse(-1)
        "{\"transid\":" + tid + ",\"activationId\":" + Json.quote(activationId) + ",\"isSystemError\":" + (kind == "systemError") +
          ",\"instance\":" + invokerInstance(invoker) + "}"
      case Some((statusCode, systemError, namesRunning, summary)) =>
        val invoker = (if (namesRunning) ran.orElse(sent.map(_.bookedInvoker)) else sent.map(_.bookedInvoker).orElse(ran)).getOrElse(-1)
        val why = if (reason.isEmpty) summary else summary + ": " + reason
        val start = sent.map(_.sentAtMillis).getOrElse(now)
        val record = "{\"namespace\":" + Json.quote(sent.map(_.namespace).getOrElse("_")) + ",\"name\":" + Json.quote(sent.map(_.actionName).getOrElse("_")) +
          ",\"subject\":" + Json.quote(sent.map(_.subject).filter(_.trim.length >= 5).getOrElse("sluice")) + ",\"activationId\":" + Json.quote(activationId) +
          ",\"start\":" + start + ",\"end\":" + now + ",\"response\":{\"statusCode\":" + statusCode + ",\"result\":{\"error\":" + Json.quote(why) + "}}" +
          ",\"logs\":[],\"version\":" + Json.quote(sent.map(_.actionVersion).getOrElse("0.0.1")) + ",\"publish\":false,\"annotations\":[" +
          "{\"key\":\"path\",\"value\":" + Json.quote(sent.map(s => s.actionPath + "/" + s.actionName).getOrElse("_")) + "}," +
          "{\"key\":\"sluiceAnswer\",\"value\":" + Json.quote(kind) + "}],\"duration\":" + math.max(0L, now - start) + "}"
        "{\"transid\":" + tid + ",\"response\":" + record + ",\"isSystemError\":" + systemError + ",\"instance\":" + invokerInstance(invoker) + "}"
    }
  }

  /** The `CompletionMessage` for a COMPLETED notice, or None for the circuit breaker's (OpenWhisk's own timer covers it). */
  def completion(activationId: String, invokerId: String, systemError: Boolean, cause: Int, sent: Option[SentActivation], now: Long): Option[String] =
    if (cause == 2) None
    else {
      val invoker = instanceOf(invokerId).orElse(sent.map(_.bookedInvoker)).getOrElse(-1)
      val tid = sent.map(_.transid.json).getOrElse("[\"sid_unknown\"," + now + "]")
      Some("{\"transid\":" + tid + ",\"activationId\":" + Json.quote(activationId) + ",\"isSystemError\":" + systemError +
           ",\"instance\":" + invokerInstance(invoker) + "}")
    }
}
