// Single-node OpenSearch 2.19.x embedded in a plain JVM (no distribution tarball, no Docker).
// Classpath: the jars resolved from pom.xml (see start.sh). Listens on 127.0.0.1 only.
// System properties (all optional):
//   os.home            node home (config/, data/, logs/ are created below it)   default ./os-home
//   os.http.port       HTTP (REST) port                                         default 9200
//   os.transport.port  transport port (single node: only bound, never dialled)   default 9300
//   os.cluster.name    cluster name                                             default dnshunt-test
// SIGTERM / SIGINT close the node cleanly (shutdown hook).
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.opensearch.Version;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

public class EmbeddedOpenSearch {
    // The distribution's modules/ are loaded as "classpath plugins" (what the OpenSearch test
    // framework's MockNode does). Netty4 is mandatory (it provides HTTP and transport).
    // Composite/terms aggregations, search_after, PIT, slices and index templates are in the
    // server jar itself (2.x has no separate "aggregations" module).
    static final String[] MODULES = {
        "org.opensearch.transport.Netty4Plugin",                              // transport-netty4-client: HTTP + transport
        "org.opensearch.analysis.common.CommonAnalysisPlugin",                // analysis-common
        "org.opensearch.index.mapper.MapperExtrasPlugin",                     // mapper-extras-client
        "org.opensearch.index.reindex.ReindexPlugin",                         // reindex-client: _reindex, _delete_by_query
        "org.opensearch.painless.PainlessPlugin",                             // lang-painless
        "org.opensearch.script.mustache.MustachePlugin",                      // lang-mustache-client: search templates
        "org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin",  // aggs-matrix-stats-client
        "org.opensearch.join.ParentJoinPlugin",                               // parent-join-client
    };

    /** Node's (Environment, Collection&lt;Class&lt;? extends Plugin&gt;&gt;, boolean) constructor is protected in 2.19. */
    static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment env, List<Class<? extends Plugin>> classpathPlugins) {
            super(env, classpathPlugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        Path home = Paths.get(System.getProperty("os.home", "os-home")).toAbsolutePath();
        String httpPort = System.getProperty("os.http.port", "9200");
        String transportPort = System.getProperty("os.transport.port", "9300");
        Path conf = home.resolve("config");
        for (String d : new String[] { "config", "data", "logs", "plugins" }) {
            Files.createDirectories(home.resolve(d));
        }
        Path log4j = conf.resolve("log4j2.properties");
        if (!Files.exists(log4j)) {
            Files.writeString(log4j, String.join("\n",
                "status = error",
                "appender.console.type = Console",
                "appender.console.name = console",
                "appender.console.layout.type = PatternLayout",
                "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n",
                "rootLogger.level = info",
                "rootLogger.appenderRef.console.ref = console",
                // deprecation warnings are noise for a test node
                "logger.deprecation.name = org.opensearch.deprecation",
                "logger.deprecation.level = error", ""));
        }
        Settings settings = Settings.builder()
            .put("cluster.name", System.getProperty("os.cluster.name", "dnshunt-test"))
            .put("node.name", "node-1")
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("discovery.type", "single-node")
            // CI disks are often nearly full; don't let the disk watermark block shard allocation
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // a test node: allow DELETE /* and _all in cleanup code
            .put("action.destructive_requires_name", false)
            .build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), conf, () -> "node-1");
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName("node-1");
        LogConfigurator.configure(env);

        List<Class<? extends Plugin>> modules = new ArrayList<>();
        for (String m : MODULES) {
            try {
                modules.add(Class.forName(m).asSubclass(Plugin.class));
            } catch (ClassNotFoundException e) {
                if (m.endsWith("Netty4Plugin")) throw e;
                System.err.println("module not on classpath, skipped: " + m);
            }
        }
        Node node = new EmbeddedNode(env, modules);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            }
        }, "embedded-opensearch-shutdown"));
        node.start();
        System.out.println("EMBEDDED_OPENSEARCH_STARTED " + Version.CURRENT + " http://127.0.0.1:" + httpPort);
        // OpenSearch's own threads are daemons: keep the JVM alive until SIGTERM/SIGINT.
        Thread.currentThread().join();
    }
}
