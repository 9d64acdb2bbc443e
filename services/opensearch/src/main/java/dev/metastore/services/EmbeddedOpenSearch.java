package dev.metastore.services;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

/**
 * Starts one OpenSearch node inside this JVM, with its modules loaded as classpath plugins.
 *
 * <p>Why not the distribution's {@code org.opensearch.bootstrap.OpenSearch}: it expects the
 * tarball's {@code modules/<name>/} directories (only the jars are on Maven Central), runs
 * JarHell over the whole classpath and installs a SecurityManager. Building a {@link Node}
 * directly needs none of that, and is how OpenSearch's own security plugin runs real nodes in
 * its integration tests.
 *
 * <p>Arguments: {@code --home DIR} (required; must hold {@code config/log4j2.properties} and
 * may hold {@code config/opensearch.yml}), {@code --plugin CLASS} (repeatable: extra plugins
 * that must load, such as k-NN or security). Everything else (ports, host, paths) comes from
 * {@code config/opensearch.yml}, which the Python service manager writes.
 */
public final class EmbeddedOpenSearch {

    /**
     * The modules every node gets. Each row lists the 2.x class name first and the 3.x name
     * ("ModulePlugin", OpenSearch PR #4042) second, so a later move to 3.x needs fewer edits.
     * A row that loads under neither name stops the start: a silently missing module would
     * show up much later as a confusing query error.
     */
    private static final String[][] MODULES = {
        {"org.opensearch.transport.Netty4Plugin", "org.opensearch.transport.Netty4ModulePlugin"},
        {"org.opensearch.painless.PainlessPlugin", "org.opensearch.painless.PainlessModulePlugin"},
        {"org.opensearch.analysis.common.CommonAnalysisPlugin",
            "org.opensearch.analysis.common.CommonAnalysisModulePlugin"},
        {"org.opensearch.index.reindex.ReindexPlugin", "org.opensearch.index.reindex.ReindexModulePlugin"},
        {"org.opensearch.index.mapper.MapperExtrasPlugin",
            "org.opensearch.index.mapper.MapperExtrasModulePlugin"},
        {"org.opensearch.join.ParentJoinPlugin", "org.opensearch.join.ParentJoinModulePlugin"},
        {"org.opensearch.script.mustache.MustachePlugin",
            "org.opensearch.script.mustache.MustacheModulePlugin"},
        {"org.opensearch.ingest.common.IngestCommonPlugin",
            "org.opensearch.ingest.common.IngestCommonModulePlugin"},
    };

    private EmbeddedOpenSearch() {}

    /** A {@link Node} whose protected constructor takes classpath plugins. */
    static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        Path home = null;
        List<String> extra = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--home" -> home = Paths.get(args[++i]).toAbsolutePath();
                case "--plugin" -> extra.add(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                    + " (accepted: --home DIR, --plugin CLASS)");
            }
        }
        if (home == null) {
            throw new IllegalArgumentException("--home DIR is required");
        }
        Path config = home.resolve("config");
        // PluginsService lists these directories even when every plugin comes from the classpath.
        for (String dir : new String[] {"config", "data", "logs", "modules", "plugins", "tmp"}) {
            Files.createDirectories(home.resolve(dir));
        }

        Settings base = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(base, Map.of(), config, () -> "node-1");
        LogConfigurator.registerErrorListener();
        LogConfigurator.configure(env);

        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        for (String[] names : MODULES) {
            plugins.add(load(names));
        }
        for (String name : extra) {
            plugins.add(load(new String[] {name}));
        }

        Node node = new EmbeddedNode(env, plugins);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "opensearch-shutdown"));
        node.start();
        System.out.println("OPENSEARCH_STARTED plugins=" + plugins.size());
        System.out.flush();
        // Node threads are daemon threads: without a live non-daemon thread the JVM would exit here.
        stopped.await();
    }

    private static Class<? extends Plugin> load(String[] names) {
        for (String name : names) {
            try {
                return Class.forName(name).asSubclass(Plugin.class);
            } catch (ClassNotFoundException e) {
                // try the next name of this row
            }
        }
        throw new IllegalStateException("no plugin class found on the classpath for " + String.join(" or ", names)
            + ": is its jar in the launcher's lib directory?");
    }
}
