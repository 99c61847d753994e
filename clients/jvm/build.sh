#!/usr/bin/env bash
# Builds the JVM connector with Debian's javac and scalac (Scala 2.11): the Java SLU/1 client,
# the Scala MessagingProvider (compiled against compile-only declarations of OpenWhisk's
# traits, src/openwhisk-api, which are not packaged), and the tests.
# Output: build/sluice-openwhisk.jar (client + provider) and build/test-classes.
set -euo pipefail
cd "$(dirname "$0")"
JEROMQ=/usr/share/java/jeromq.jar
for need in javac scalac; do
  command -v "$need" >/dev/null 2>&1 || { echo "jvm: $need not found; run scripts/setup.sh --jvm (installs scala and libjeromq-java)" >&2; exit 1; }
done
[ -f "$JEROMQ" ] || { echo "jvm: $JEROMQ not found; run scripts/setup.sh --jvm" >&2; exit 1; }
rm -rf build && mkdir -p build/stubs build/classes build/test-classes
echo "jvm: compiling the Java client"
javac --release 8 -Xlint:all -Werror -cp "$JEROMQ" -d build/classes $(find src/main/java -name '*.java')
echo "jvm: compiling OpenWhisk's declarations (compile-only)"
scalac -d build/stubs src/openwhisk-api/scala/*.scala
echo "jvm: compiling the Scala provider"
scalac -feature -deprecation -Xfatal-warnings -cp "build/stubs:build/classes:$JEROMQ" -d build/classes src/main/scala/org/sluice/openwhisk/*.scala
echo "jvm: compiling the tests"
scalac -feature -cp "build/stubs:build/classes:$JEROMQ" -d build/test-classes src/test/scala/org/sluice/openwhisk/*.scala
(cd build/classes && jar cf ../sluice-openwhisk.jar .)
echo "jvm: built build/sluice-openwhisk.jar"
