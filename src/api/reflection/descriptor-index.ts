import type { DescFile, DescService } from "@bufbuild/protobuf";
import type { DescriptorProto, EnumDescriptorProto } from "@bufbuild/protobuf/wkt";

/**
 * Everything server reflection can be asked about, indexed once at startup: the files declaring
 * the served services and every file they depend on, transitively.
 *
 * Symbols are indexed from each file's FileDescriptorProto, so they include what protobuf-es
 * hides from its descriptors (such as map entry messages): services, methods, messages, fields,
 * oneofs, enums, enum values (scoped beside their enum, as in protobuf) and extensions.
 */
export class DescriptorIndex {
  /** The fully-qualified names of the served services, sorted. */
  readonly serviceNames: readonly string[];
  readonly #filesByName = new Map<string, DescFile>();
  readonly #filesBySymbol = new Map<string, DescFile>();
  /** Message type names (indexed as symbols too), to tell an unknown type from one without extensions. */
  readonly #messageNames = new Set<string>();
  /** Extendee's fully-qualified name → extension field number → the file declaring it. */
  readonly #extensions = new Map<string, Map<number, DescFile>>();

  constructor(services: Iterable<DescService>, extraFiles: Iterable<DescFile> = []) {
    const serviceNames = new Set<string>();
    for (const service of services) {
      serviceNames.add(service.typeName);
      this.#addFile(service.file);
    }
    for (const file of extraFiles) this.#addFile(file);
    this.serviceNames = [...serviceNames].sort();
  }

  /** The file named `fileName` (with its .proto suffix, as in import statements). */
  fileByName(fileName: string): DescFile | undefined {
    return this.#filesByName.get(fileName);
  }

  /** The file declaring the fully-qualified `symbol` (a leading dot is accepted). */
  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.#filesBySymbol.get(symbol.startsWith(".") ? symbol.slice(1) : symbol);
  }

  /** The file declaring extension `fieldNumber` of the message `typeName`. */
  fileContainingExtension(typeName: string, fieldNumber: number): DescFile | undefined {
    return this.#extensions.get(stripDot(typeName))?.get(fieldNumber);
  }

  /**
   * The field numbers of every known extension of the message `typeName`, ascending; undefined
   * when no known file declares that message.
   */
  extensionNumbersOf(typeName: string): number[] | undefined {
    const name = stripDot(typeName);
    if (!this.#messageNames.has(name)) return undefined;
    return [...(this.#extensions.get(name)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /**
   * `file` followed by its dependencies, transitively, each once, breadth first: the order in
   * which a reflection client can resolve them.
   */
  withDependencies(file: DescFile): DescFile[] {
    const ordered: DescFile[] = [file];
    const seen = new Set<string>([file.proto.name]);
    for (let index = 0; index < ordered.length; index += 1) {
      for (const dependency of ordered[index]!.dependencies) {
        if (seen.has(dependency.proto.name)) continue;
        seen.add(dependency.proto.name);
        ordered.push(dependency);
      }
    }
    return ordered;
  }

  #addFile(file: DescFile): void {
    if (this.#filesByName.has(file.proto.name)) return;
    this.#filesByName.set(file.proto.name, file);
    const proto = file.proto;
    const scope = proto.package;
    for (const message of proto.messageType) this.#addMessage(file, scope, message);
    for (const enumType of proto.enumType) this.#addEnum(file, scope, enumType);
    for (const service of proto.service) {
      const serviceName = join(scope, service.name);
      this.#addSymbol(file, serviceName);
      for (const method of service.method) this.#addSymbol(file, join(serviceName, method.name));
    }
    for (const extension of proto.extension) {
      this.#addSymbol(file, join(scope, extension.name));
      this.#addExtension(file, extension.extendee, extension.number);
    }
    for (const dependency of file.dependencies) this.#addFile(dependency);
  }

  #addMessage(file: DescFile, scope: string, message: DescriptorProto): void {
    const messageName = join(scope, message.name);
    this.#addSymbol(file, messageName);
    this.#messageNames.add(messageName);
    for (const field of message.field) this.#addSymbol(file, join(messageName, field.name));
    for (const oneof of message.oneofDecl) this.#addSymbol(file, join(messageName, oneof.name));
    for (const nested of message.nestedType) this.#addMessage(file, messageName, nested);
    for (const enumType of message.enumType) this.#addEnum(file, messageName, enumType);
    for (const extension of message.extension) {
      this.#addSymbol(file, join(messageName, extension.name));
      this.#addExtension(file, extension.extendee, extension.number);
    }
  }

  #addEnum(file: DescFile, scope: string, enumType: EnumDescriptorProto): void {
    this.#addSymbol(file, join(scope, enumType.name));
    // Enum values are siblings of their enum in protobuf's scoping rules.
    for (const value of enumType.value) this.#addSymbol(file, join(scope, value.name));
  }

  #addSymbol(file: DescFile, symbol: string): void {
    // The first declaration wins; protoc rejects duplicates, so a second one cannot be valid.
    if (!this.#filesBySymbol.has(symbol)) this.#filesBySymbol.set(symbol, file);
  }

  #addExtension(file: DescFile, extendee: string, fieldNumber: number): void {
    const extendeeName = stripDot(extendee);
    let byNumber = this.#extensions.get(extendeeName);
    if (byNumber === undefined) {
      byNumber = new Map();
      this.#extensions.set(extendeeName, byNumber);
    }
    if (!byNumber.has(fieldNumber)) byNumber.set(fieldNumber, file);
  }
}

function join(scope: string, name: string): string {
  return scope === "" ? name : `${scope}.${name}`;
}

function stripDot(typeName: string): string {
  return typeName.startsWith(".") ? typeName.slice(1) : typeName;
}
