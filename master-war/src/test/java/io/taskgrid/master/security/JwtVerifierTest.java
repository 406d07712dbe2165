package io.taskgrid.master.security;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

class JwtVerifierTest {

    private static final String ISSUER = "https://idp.example.test";

    @TempDir
    Path dir;

    private KeyPair keys;
    private JwtVerifier verifier;

    @BeforeEach
    void configure() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        keys = generator.generateKeyPair();
        Path pem = dir.resolve("key.pem");
        Files.writeString(pem, "-----BEGIN PUBLIC KEY-----\n"
                + Base64.getMimeEncoder().encodeToString(keys.getPublic().getEncoded()) + "\n-----END PUBLIC KEY-----\n");
        verifier = new JwtVerifier(Optional.of(pem.toString()), Optional.of(ISSUER));
    }

    static String jwt(KeyPair keys, String issuer, List<String> groups, long expiresInSeconds) throws Exception {
        JWTClaimsSet claims = new JWTClaimsSet.Builder().issuer(issuer).subject("alice").claim("upn", "alice@example.test")
                .claim("groups", groups).expirationTime(new Date(System.currentTimeMillis() + expiresInSeconds * 1000))
                .build();
        SignedJWT token = new SignedJWT(new JWSHeader(JWSAlgorithm.RS256), claims);
        token.sign(new RSASSASigner(keys.getPrivate()));
        return token.serialize();
    }

    @Test
    void aValidTokenGivesItsHighestRoleAndName() throws Exception {
        Optional<JwtVerifier.Verdict> verdict = verifier.verify(jwt(keys, ISSUER, List.of("viewer", "submitter", "staff"), 300));
        assertThat(verdict).isPresent();
        assertThat(verdict.get().caller()).isEqualTo(new TokenFile.Caller("jwt:alice@example.test", Role.SUBMITTER));
    }

    @Test
    void expiredWronglySignedAndForeignTokensAreRefused() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        assertThat(verifier.verify(jwt(keys, ISSUER, List.of("operator"), -120))).as("expired").isEmpty();
        assertThat(verifier.verify(jwt(generator.generateKeyPair(), ISSUER, List.of("operator"), 300))).as("other key").isEmpty();
        assertThat(verifier.verify(jwt(keys, "https://evil.test", List.of("operator"), 300))).as("other issuer").isEmpty();
        String good = jwt(keys, ISSUER, List.of("operator"), 300);
        String tampered = good.substring(0, good.lastIndexOf('.') - 2) + "xx" + good.substring(good.lastIndexOf('.'));
        assertThat(verifier.verify(tampered)).as("tampered").isEmpty();
    }

    @Test
    void aTokenWithoutATaskgridRoleIsAuthenticatedButGrantsNothing() throws Exception {
        Optional<JwtVerifier.Verdict> verdict = verifier.verify(jwt(keys, ISSUER, List.of("staff"), 300));
        assertThat(verdict).isPresent();
        assertThat(verdict.get().caller()).isNull();
        assertThat(verdict.get().problem()).contains("groups");
    }

    @Test
    void withNoKeyConfiguredEveryJwtIsRefused() throws Exception {
        assertThat(new JwtVerifier(Optional.empty(), Optional.empty()).verify(jwt(keys, ISSUER, List.of("operator"), 300)))
                .isEmpty();
        assertThat(JwtVerifier.looksLikeJwt("tgo_abc")).isFalse();
        assertThat(JwtVerifier.looksLikeJwt("a.b.c")).isTrue();
    }
}
